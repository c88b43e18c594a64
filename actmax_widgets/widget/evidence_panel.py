"""The widget's evidence beside each synthetic image: natural top examples, sanity badges and
accentuated photos (issue #14), turned into ``GridWidget`` traits.

A scan of natural images (``evidence.dataset_examples``) or an accentuation runs in this panel's
own worker thread, one at a time, so the kernel stays free and the grid's "Stop" reaches it: a
stopped scan keeps the examples found so far. A complete scan of one layer's filters is kept and
never asked again (the core also caches it on disk across sessions).
"""
from __future__ import annotations

import threading
import traceback

import numpy as np

from .. import arguments, model_cut, render
from .photo_panel import check_upload


def check_images(images):
    """``images`` as the scan will read it, refused at once with the argument, value and fix by
    the scan's own reader (``evidence.image_sources.open_source``): a scan that fails later runs
    in a thread, where an error is only a status line."""
    if images is not None:
        _evidence_core().image_sources.open_source(images, argument="images")
    return images


def _evidence_core():
    """The core's evidence subpackage, imported when first used (it loads TensorFlow code)."""
    from .. import evidence
    return evidence


# Complete scans kept in memory (the disk cache keeps them all): a few layers to go back to.
KEPT_SCANS = 4

# The browser shows patches at about 80 px: a dense unit's whole 224 px image is sent at this
# size at most (9 per tile would otherwise be megabytes per update).
PATCH_SIDE = 128


def _png_list(patches):
    from ..photos import resize
    pngs = []
    for patch in patches:
        height, width = patch.shape[:2]
        scale = PATCH_SIDE / max(height, width)
        if scale < 1:
            patch = resize(patch, (max(1, round(height * scale)), max(1, round(width * scale))))
        pngs.append(render.to_png(patch))
    return pngs


def _row_of(examples, filter_index):
    """The row of ``examples`` that holds ``filter_index``, or None."""
    filters = list(examples.filters)
    return filters.index(filter_index) if filter_index in filters else None


def _finite(value):
    value = float(value)
    return value if np.isfinite(value) else None


def tile_evidence(targets, examples, sanity=None, accentuations=None, layer=None):
    """The ``evidence`` trait: one dict per tile (``targets`` in tile order, a filter listed once
    per diverse copy) with its natural patches (PNG), their activations and image names, the
    tile's sanity badges and the accentuated photo of its filter, where known. Each entry names
    its filter (and ``layer``, when given): the browser shows it only under a tile of those."""
    entries = []
    for tile, filter_index in enumerate(targets):
        row = None if examples is None else _row_of(examples, int(filter_index))
        entry = {"filter": int(filter_index), "patches": [], "activations": [], "sources": [], "badges": [],
                 "accentuation": (accentuations or {}).get(int(filter_index))}
        if layer is not None:
            entry["layer"] = str(layer)
        if row is not None:
            activations = np.asarray(examples.activations[row], dtype="float64")
            found = [k for k, value in enumerate(activations) if np.isfinite(value)]  # a short scan's empty slots
            entry["patches"] = _png_list(examples.patches[row][found])
            entry["activations"] = [_finite(activations[k]) for k in found]
            names = examples.image_names
            entry["sources"] = [str(names[int(examples.image_indices[row][k])]) for k in found]
        if sanity is not None:
            entry["badges"] = [dict(badge) for badge in sanity.badges(tile)]
        entries.append(entry)
    return entries


class EvidencePanel:
    """Scans and accentuations for one ``ActMaxWidget``; writes ``evidence``, ``evidence_state``
    and ``evidence_status`` on its grid.

    ``auto``: scan after every run (the widget was given ``images=``); otherwise only when asked
    (the grid's "Natural examples" toggle, the enlarged view's button, ``scan()``).
    """

    def __init__(self, widget, images, *, auto):
        self.widget = widget
        self.grid = widget.grid
        self.images = images
        self.auto = auto
        self._scans = {}  # (weights, layer, filters, image_size) -> complete Examples, oldest first
        # (layer, filter) -> (the widget's photo then, the entry shown in its tile): a new photo drops it
        self._accentuations = {}
        self._thread = None
        self._stop = threading.Event()
        self._starting = threading.Lock()  # _start/stop come from the kernel's and the run's threads
        self._run_lock = threading.Lock()  # a scan's end and the run's end agree on who attaches badges
        self._scanning = None  # the request a scan is running for
        self._badges_pending = None  # the request whose scan ended before its run: after_run attaches them
        self._shown = None  # (request, result) of the tiles on show
        self.examples = None
        self.sanity = None
        self.error = None
        self.grid.observe(self._toggled, "show_natural")
        # Photo mode sets these when the photo changes (a trait set to its own value tells nobody,
        # so both); the accentuations of the photo before then go.
        self.grid.observe(self._photo_changed, ["photo", "photo_status"])

    # -- what the tiles are ------------------------------------------------------------------
    def clear(self, request):
        """A new run was asked: the old tiles' evidence goes with them."""
        self.stop(wait=True)
        with self._run_lock:
            self._shown = (request, None)
            self._badges_pending = None
        self.examples = self.sanity = None
        self._publish()
        self._say("idle", "")  # the old tiles' scan or error is not the new tiles'

    def after_run(self, request, result):
        """The run ended (called from its worker thread): scan if evidence is wanted; examples
        found while it ran get their badges now."""
        with self._run_lock:
            self._shown = (request, result)
            scanning = self._scanning is request
            pending, self._badges_pending = self._badges_pending is request, None
        if scanning:
            return  # the scan going reads this result when it ends
        if pending and self.examples is not None:
            self._start(self._badges, request, blocking=False)
        elif self.auto or self.grid.show_natural:
            self.scan()
        elif self.examples is not None:
            self._publish()

    # -- scanning --------------------------------------------------------------------------
    def scan(self, blocking=False):
        """Find the natural images that excite the shown tiles' filters most (in the background
        unless ``blocking``); a scan already made for them is reused."""
        request = self._shown[0] if self._shown else None
        if request is None:
            raise RuntimeError("Nothing to explain yet: press Run (or call run()) first.")
        return self._start(self._scan, request, blocking)

    def _scan_key(self, request):
        """What a scan's examples depend on; the weights too, as in the disk cache: a rescan after
        training must not show the examples of the weights before."""
        from ..evidence.cache import model_digest
        filters = tuple(sorted(set(int(target) for target in request.targets)))
        return model_digest(self.widget.model), request.layer, filters, self._image_size(request)

    def _image_size(self, request):
        """The model's own input size where it has one (natural photos are seen as the model was
        trained to see them); a model of any size scans at the run's size."""
        size, _ = model_cut.input_image_size(self.widget.model)
        return None if None not in size else int(request.image_size)

    def _keep(self, key, examples):
        self._scans.pop(key, None)
        self._scans[key] = examples  # the newest last
        while len(self._scans) > KEPT_SCANS:
            del self._scans[next(iter(self._scans))]

    def _scan(self, request, stop):
        with self._run_lock:
            self._scanning = request
        try:
            self._scan_for(request, stop)
        finally:
            with self._run_lock:
                self._scanning = None

    def _scan_for(self, request, stop):
        key = self._scan_key(request)
        examples = self._scans.get(key)
        if examples is None:
            self._say("scanning", "finding the natural images that excite these filters most…")
            _, layer, filters, image_size = key
            examples = _evidence_core().dataset_examples(
                self.widget.model, layer, list(filters), images=self.images, image_size=image_size,
                progress=False, on_progress=lambda done, total: self._progress(done, total),
                should_stop=stop.is_set)
            if examples.complete:
                self._keep(key, examples)
        self.examples = examples
        self._publish()  # the strips first: badges that fail must not hide them
        if stop.is_set():  # stopped (e.g. by a new Run, whose clear() waits): no probe for badges
            self._say("stopped", self._summary(examples))
            return
        with self._run_lock:
            if not self._result_for(request):
                self._badges_pending = request  # the run is still going: after_run attaches them
        self._badges(request)

    def _badges(self, request, stop=None):
        self._attach_sanity(request)
        self._publish()
        self._say("done" if self.examples.complete else "stopped", self._summary(self.examples))

    def _result_for(self, request):
        """The run's result with images, when ``request`` is the run on show and has ended."""
        result = self._shown[1] if self._shown and self._shown[0] is request else None
        return result if result is not None and len(result.images) else None

    def _attach_sanity(self, request):
        """Badges need the run's images: a run still going or stopped before any has none."""
        result = self._result_for(request)
        self.sanity = None
        if result is None:
            return
        # Also kept as result.sanity (the core attaches it): widget.result carries its badges.
        self.sanity = _evidence_core().sanity_signals(self.widget.model, result, self.examples)

    def _progress(self, done, total):
        of = f" of {total}" if total else ""
        self._say("scanning", f"finding natural examples: {done}{of} images scanned…")

    @staticmethod
    def _summary(examples):
        k = examples.patches.shape[1] if examples.patches.ndim > 1 else 0
        if examples.complete:
            return f"natural examples: the top {k} of {examples.images_scanned} images for each filter"
        return (f"natural examples: stopped after {examples.images_scanned} images — "
                "the strips show the best found so far")

    # -- accentuation ----------------------------------------------------------------------
    def accentuate(self, filter_index, photo=None, blocking=False):
        """Accentuate ``filter_index`` of the shown layer in ``photo`` (uploaded bytes, a path,
        an array…; default the widget's current photo), in the background unless ``blocking``."""
        request = self._shown[0] if self._shown else None
        if request is None:
            raise RuntimeError("Nothing to accentuate for yet: press Run (or call run()) first.")
        if photo is None:
            photo = getattr(self.widget, "photo", None)
        if photo is None:
            raise ValueError("photo=None and the widget has no current photo: upload one with "
                             "'Accentuate a photo…', or pass photo= (a path, bytes or an image array).")
        filter_index = arguments.check_int("filter_index", filter_index, minimum=0)  # here, not in the thread
        from ..photos import load_photo
        _, channels = model_cut.input_image_size(self.widget.model)  # channels-first models too
        array = load_photo(photo, channels=int(channels or 3), argument="photo")
        shown_photo = self.widget.photo  # the accentuation goes when this photo does
        return self._start(lambda req, stop: self._accentuate(req, filter_index, array, shown_photo),
                           request, blocking)

    def _accentuate(self, request, filter_index, photo, shown_photo):
        self._say("accentuating", f"accentuating filter {filter_index} in your photo…")
        made = _evidence_core().accentuate(self.widget.model, request.layer, [filter_index], photo,
                                           image_size=self._image_size(request))
        self._accentuations[(request.layer, filter_index)] = shown_photo, {
            "filter": filter_index, "photo": render.to_png(made.photo), "image": render.to_png(made.images[0]),
            "change": render.to_png(np.clip(made.change_maps[0], 0, 1) * 255),
            "activation": _finite(made.activations[0]), "start_activation": _finite(made.start_activations[0]),
        }
        self._publish()
        self._say("done", f"filter {filter_index} accentuated in your photo: activation "
                          f"{made.start_activations[0]:.2f} → {made.activations[0]:.2f}")

    # -- the thread ------------------------------------------------------------------------
    def _start(self, work, request, blocking):
        # Locked: a Run's end (its thread) and a click (the kernel's) could each stop the old
        # worker and start one, leaving two, one of them with no stop event to reach it.
        with self._starting:
            self._stop_worker(wait=True)
            self._stop = stop = threading.Event()
            self.error = None
            if not blocking:
                self._thread = threading.Thread(target=self._work, args=(work, request, stop, False),
                                                name="actmax-evidence", daemon=True)
                self._thread.start()
                return None
        return self._work(work, request, stop, reraise=True)

    def _work(self, work, request, stop, reraise):
        try:
            work(request, stop)
        except Exception as error:  # noqa: BLE001 - a worker has no caller: the grid says it
            self.error = error
            self.details = traceback.format_exc()
            from .actmax_widget import readable_error
            self._say("error", readable_error(error))
            if reraise:
                raise

    @property
    def busy(self):
        return self._thread is not None and self._thread.is_alive()

    def stop(self, wait=True):
        """Stop a scan after its current batch (what it found is kept) or an accentuation."""
        with self._starting:
            self._stop_worker(wait)

    def _stop_worker(self, wait):
        self._stop.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def wait(self, timeout=None):
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- traits ----------------------------------------------------------------------------
    def _toggled(self, change):
        """The grid's toggle was turned on: scan if its tiles have no natural examples yet."""
        if change["new"] and self.examples is None and not self.busy and self._shown and self._shown[1]:
            self.scan()

    def on_message(self, content, buffers):
        """The front-end's evidence requests; True when the message was one of them."""
        kind = content.get("type")
        try:
            if kind == "evidence-scan":
                self.scan()
            elif kind == "evidence-stop":
                self.stop(wait=False)
            elif kind == "accentuate":
                # The upload checks of photo mode: PNG or JPEG, at most its size, before decoding.
                photo = check_upload("the uploaded photo", buffers[0]) if buffers else None
                self.accentuate(content.get("filter"), photo)
            else:
                return False
        except (ValueError, TypeError, RuntimeError) as error:
            from .actmax_widget import readable_error
            self._say("error", readable_error(error))
        return True

    def _photo_changed(self, change):
        """A new photo (or none): the accentuations of the one before go. Called inside photo
        mode's grid update, which holds the grid's lock: the trait is set here without it."""
        if self._drop_old_accentuations():
            self.grid.evidence = self._entries()

    def _drop_old_accentuations(self):
        photo = getattr(self.widget, "photo", None)
        # list(): the photo's thread and the evidence worker both come here
        old = [key for key, (shown_photo, _) in list(self._accentuations.items()) if shown_photo is not photo]
        for key in old:
            self._accentuations.pop(key, None)
        return bool(old)

    def _entries(self):
        request = self._shown[0] if self._shown else None
        if request is None:
            return []
        accentuations = {f: entry for (layer, f), (_, entry) in list(self._accentuations.items())
                         if layer == request.layer}
        return tile_evidence(request.targets, self.examples, self.sanity, accentuations, layer=request.layer)

    # Worker threads set these traits too: with the lock every grid update takes (hold_sync is
    # not thread-safe), or an update of the run's could swallow them.
    def _say(self, state, text):
        with self.widget._listener._lock, self.grid.hold_sync():
            self.grid.evidence_state = state
            self.grid.evidence_status = text

    def _publish(self):
        self._drop_old_accentuations()
        entries = self._entries()
        with self.widget._listener._lock, self.grid.hold_sync():
            self.grid.evidence = entries
