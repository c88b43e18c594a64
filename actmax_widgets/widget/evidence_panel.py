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

from .. import render


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


def tile_evidence(targets, examples, sanity=None, accentuations=None):
    """The ``evidence`` trait: one dict per tile (``targets`` in tile order, a filter listed once
    per diverse copy) with its natural patches (PNG), their activations and image names, the
    tile's sanity badges and the accentuated photo of its filter, where known."""
    entries = []
    for tile, filter_index in enumerate(targets):
        row = None if examples is None else _row_of(examples, int(filter_index))
        entry = {"filter": int(filter_index), "patches": [], "activations": [], "sources": [], "badges": [],
                 "accentuation": (accentuations or {}).get(int(filter_index))}
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
        self._scans = {}  # (layer, filters, image_size) -> complete Examples: asked once
        self._accentuations = {}  # (layer, filter) -> the accentuation entry shown in its tile
        self._thread = None
        self._stop = threading.Event()
        self._shown = None  # (request, result) of the tiles on show
        self.examples = None
        self.sanity = None
        self.error = None
        self.grid.observe(self._toggled, "show_natural")

    # -- what the tiles are ------------------------------------------------------------------
    def clear(self, request):
        """A new run was asked: the old tiles' evidence goes with them."""
        self.stop(wait=True)
        self._shown = (request, None)
        self.examples = self.sanity = None
        self._publish()

    def after_run(self, request, result):
        """The run ended (called from its worker thread): scan if evidence is wanted."""
        self._shown = (request, result)
        if self.auto or self.grid.show_natural:
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
        filters = tuple(sorted(set(int(target) for target in request.targets)))
        return request.layer, filters, self._image_size(request)

    def _image_size(self, request):
        """The model's own input size where it has one (natural photos are seen as the model was
        trained to see them); a model of any size scans at the run's size."""
        shape = self.widget.model.input_shape
        return None if shape[1] is not None and shape[2] is not None else int(request.image_size)

    def _scan(self, request, stop):
        key = self._scan_key(request)
        examples = self._scans.get(key)
        if examples is None:
            self._say("scanning", "finding the natural images that excite these filters most…")
            layer, filters, image_size = key
            examples = _evidence_core().dataset_examples(
                self.widget.model, layer, list(filters), images=self.images, image_size=image_size,
                progress=False, on_progress=lambda done, total: self._progress(done, total),
                should_stop=stop.is_set)
            if examples.complete:
                self._scans[key] = examples
        self.examples = examples
        self._publish()  # the strips first: badges that fail must not hide them
        self._attach_sanity(request)
        self._publish()
        self._say("done" if examples.complete else "stopped", self._summary(examples))

    def _attach_sanity(self, request):
        """Badges need the run's images: a run still going or stopped before any has none."""
        result = self._shown[1] if self._shown and self._shown[0] is request else None
        self.sanity = None
        if result is None or not len(result.images):
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
        from ..photos import load_photo
        channels = int(self.widget.model.input_shape[-1])
        array = load_photo(photo, channels=channels, argument="photo")
        return self._start(lambda req, stop: self._accentuate(req, int(filter_index), array), request, blocking)

    def _accentuate(self, request, filter_index, photo):
        self._say("accentuating", f"accentuating filter {filter_index} in your photo…")
        made = _evidence_core().accentuate(self.widget.model, request.layer, [filter_index], photo,
                                           image_size=self._image_size(request))
        self._accentuations[(request.layer, filter_index)] = {
            "filter": filter_index, "photo": render.to_png(made.photo), "image": render.to_png(made.images[0]),
            "change": render.to_png(np.clip(made.change_maps[0], 0, 1) * 255),
            "activation": _finite(made.activations[0]), "start_activation": _finite(made.start_activations[0]),
        }
        self._publish()
        self._say("done", f"filter {filter_index} accentuated in your photo: activation "
                          f"{made.start_activations[0]:.2f} → {made.activations[0]:.2f}")

    # -- the thread ------------------------------------------------------------------------
    def _start(self, work, request, blocking):
        self.stop(wait=True)
        self._stop = stop = threading.Event()
        self.error = None
        if blocking:
            return self._work(work, request, stop, reraise=True)
        self._thread = threading.Thread(target=self._work, args=(work, request, stop, False),
                                        name="actmax-evidence", daemon=True)
        self._thread.start()
        return None

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
                photo = bytes(buffers[0]) if buffers else None
                self.accentuate(content.get("filter"), photo)
            else:
                return False
        except (ValueError, TypeError, RuntimeError) as error:
            from .actmax_widget import readable_error
            self._say("error", readable_error(error))
        return True

    def _say(self, state, text):
        with self.grid.hold_sync():
            self.grid.evidence_state = state
            self.grid.evidence_status = text

    def _publish(self):
        request = self._shown[0] if self._shown else None
        if request is None:
            self.grid.evidence = []
            return
        accentuations = {f: entry for (layer, f), entry in self._accentuations.items() if layer == request.layer}
        self.grid.evidence = tile_evidence(request.targets, self.examples, self.sanity, accentuations)
