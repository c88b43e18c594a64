"""``ActMaxWidget``: pick a layer and filters, press Run, watch the grid improve live."""
from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter

import ipywidgets as w
import numpy as np

from .. import arguments, models, photos, precision as precision_module, render
from ..device import device_name
from . import gif_download
from .controls import PRECISION_OPTIONS, Controls
from .evidence_panel import EvidencePanel, check_images
from .grid import GridWidget
from .job import Listener, VisualizationJob
from .photo_panel import PhotoPanel
from .presets import DEFAULT_PRESET, PRESETS
from .atlas_tiles import AtlasTiles


class ActMaxWidget(w.VBox):
    """Activation maximization in a notebook cell.

    ``ActMaxWidget(model)`` shows a layer picker (only layers that can be visualized, with their
    kind and size), filter selection (pages, a list such as ``0-15, 32``, a random sample, or
    "diverse": several distinct images of one filter), presets and settings, one Run/Stop button,
    and a grid of thumbnails that refreshes while the optimization runs in a background thread.
    The enlarged view of a tile offers "4 diverse images" of its filter.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential.
    layer : int or str, optional
        The layer to start on; default a mid-depth convolutional layer.
    filters : list of int, optional
        The filters to start with; default the first page.
    labels : list of str, optional
        Class names for a dense output (the embedded ImageNet model brings its own).
    preset : str
        ``'quick preview'`` (default), ``'workshop quality'``, ``'pixels, tuned'`` or
        ``'keras-vis defaults'`` (see ``widget.presets``).
    steps, image_size : int, optional
        Override the preset's values; a value the preset does not have shows the preset as
        "custom" (what the widget will run). ``image_size`` must be one the starting layer runs
        at (``actmax_widgets.image_sizes``: a ValueError says which); by default the preset's,
        capped at a fixed-size model's own size (28 for an MNIST-style net).
    precision : str
        ``'auto'`` (default: bfloat16 where this machine is measured to compute it clearly faster
        with images as good — an AMX CPU and no depthwise convolutions up to the layer — and
        float32 elsewhere; ``actmax_widgets.precision`` has the rule and the figures),
        ``'float32'`` (exact, the core's default) or ``'bfloat16'``. Also in Settings; the status
        line names a reduced precision.
    prepare : bool
        Trace the compiled step for the current settings in the background as soon as they
        change (a second or more per layer), so Run starts drawing at once. Default True.
    images : folder, array, list of images or tf.data.Dataset, optional
        Natural images to explain each tile with (``actmax_widgets.dataset_examples``): after
        every run a background scan finds each filter's top patches (the enlarged view shows
        them beside the synthetic image with sanity badges; the grid's "Natural examples"
        toggle puts each filter's best patch under its tile). Without it, the offline sample
        photos are scanned when the toggle or the enlarged view asks. ``widget.evidence``
        (``examples``, ``sanity``, ``scan()``, ``accentuate(filter, photo)``) is the panel.

    atlas : folder, optional
        A built atlas of this model (``actmax_widgets.atlas.build``): the tiles it holds are
        shown at once, badged "atlas" (precomputed), for the layer and filters picked (without
        ``layer``, the widget starts on one the atlas holds); Run computes only the tiles it
        lacks. An atlas of another model is refused.
        ``widget.atlas_tiles.enabled = False`` computes every tile again.

    objectives : list, optional
        ``actmax_widgets.objectives`` objectives (or keras-vis Losses), from code: one tile each,
        captioned ``str(objective)``; Run computes them with the panel's style and settings, and
        the layer and filter pickers are switched off (the objectives name their layers).

    photo : path, PIL image or array, optional
        Your photo (or upload one under the controls; ``widget.photo``, uint8 ``(H, W, 3)``, is it):
        each tile then shows where its filter fires on it (a conv layer) or its unit's Grad-CAM
        (a dense layer), beside the synthetic image, with the model's top-5 predictions; the
        enlarged view shows photo, heatmap and synthetic image side by side. The maps are
        computed in the background after each Run; ``photo_panel.wait()`` blocks until they show.

    Use from code: ``run(blocking=True)`` (scripts, tests, nbval), ``run()`` / ``stop()``,
    ``running``, ``images`` (latest ``(N, H, W, C)`` uint8), ``result`` (the last
    ``ActMaxResult``), ``save(path)``, ``close()``.

    When a run is already going (started by the Run button or by ``run()``):

    - ``run()`` and ``run(blocking=True)`` stop it (waiting for its current step), then start a
      run with the current settings: the grid shows placeholders for the new run's tiles at
      once; ``run(blocking=True)`` returns that run's ``ActMaxResult`` (None when it was stopped
      before its first step).
    - ``stop()`` asks it to stop after the current step and, with ``wait=True`` (default),
      returns once it has; with no run going it does nothing.
    - picking another layer from code (``w.controls.layer.value = ...``) stops it too: the grid
      keeps the stopped run's tiles under their own layer's name, marked as from the previous
      layer, until the next run.
    - ``close()`` stops it, ends the widget's threads and closes its views.

    ``images`` and ``result`` always belong to the latest run (``images`` is None until it
    draws): to keep a run's images, keep the ``ActMaxResult`` that ``run(blocking=True)``
    returns; ``result.layer_name`` and ``result.targets`` say what they are of.
    """

    def __init__(self, model, layer=None, filters=None, *, labels=None, preset=DEFAULT_PRESET,
                 steps=None, image_size=None, precision="auto", prepare=True, images=None,
                 photo=None, atlas=None, objectives=None):
        arguments.check(model=model, layer=layer, filters=filters, labels=labels, steps=steps, image_size=image_size,
                        prepare=prepare)
        checked_images = check_images(images)
        photo = None if photo is None else photos.load_photo(photo)  # a bad one fails before any thread
        arguments.check_choice("preset", preset, tuple(PRESETS))
        self.model = model
        self.objectives = None if objectives is None else _checked_objectives(objectives, atlas)
        # A built atlas's tiles are shown at once; another model's atlas is refused here.
        self.atlas_tiles = None if atlas is None else AtlasTiles(self, atlas, start_layer_given=layer is not None)
        labels = labels if labels is not None else models.class_names_for(model)
        self.controls = Controls(model, layer=layer, filters=filters, labels=labels, preset=preset)
        if self.objectives is not None:
            self.controls.fix_targets()
        if steps is not None:
            # The slider would clamp a longer run silently: it stretches to the steps asked for.
            self.controls.steps.max = max(self.controls.steps.max, int(steps))
            self.controls.steps.value = steps
        if image_size is not None:
            self.controls.image_sizes.choose(image_size)  # ValueError: a size this layer cannot run
        self.controls.precision.value = precision_module.check(
            precision, tuple(value for _, value in PRECISION_OPTIONS))
        self.grid = GridWidget()
        self.evidence = EvidencePanel(self, checked_images, auto=images is not None)
        self._device = device_name()
        self._listener = _GridUpdater(self)
        self._job = VisualizationJob(model, self._listener)
        self.photo_panel = PhotoPanel(self)
        self.photo_panel.set_photo(photo)
        self._images = None
        self._targets = []
        self.controls.run_button.on_click(lambda _: self._toggle())
        self.controls.layer.observe(lambda _: self._layer_picked(), "value")
        self.controls.copies.observe(lambda _: self._offer_copies(), "value")
        self.grid.on_msg(self._on_grid_message)
        self._show_layer()
        self._offer_copies()
        self._prepare_enabled = prepare
        controls = self.controls
        for control in (controls.layer, controls.mode, controls.page_size, controls.copies, controls.preset,
                        controls.style, controls.image_size, controls.jitter, controls.grad_modifier,
                        controls.backprop_modifier, controls.linear_output, controls.precision):
            control.observe(lambda _: self._prepare(), "value")
        if self.atlas_tiles is not None:  # before tracing ahead: it traces only what the atlas lacks
            self.atlas_tiles.attach()
        self._prepare()
        super().__init__([self.controls.box(), self.photo_panel.box, self.grid])
        self.add_class("actmax-widget")

    # -- public API ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self._job.running

    @property
    def result(self):
        """The latest run's ``ActMaxResult`` once it has ended (finished or stopped); None while
        it runs, or when it failed or was stopped before its first step."""
        return self._job.result

    @property
    def images(self):
        """The latest run's images, ``(N, H, W, C)`` uint8, updated live; None from Run until
        its first images (keep ``run(blocking=True)``'s result to keep a run's images)."""
        return self._images

    @property
    def photo(self):
        """The photo the tiles are shown on, uint8 ``(H, W, 3)`` (uploaded or set), or None.
        Set a path, PIL image or array (None removes it); the maps follow in the background."""
        return self.photo_panel.photo

    @photo.setter
    def photo(self, photo):
        self.photo_panel.set_photo(photo)

    def run(self, blocking=False):
        """Start a run with the current settings; a run already going is stopped first.

        ``blocking=True`` runs in the calling thread, returns the run's ``ActMaxResult`` and
        raises what went wrong (for scripts, tests and nbval, which do not wait for threads);
        the grid still updates live.
        """
        self._job.check_open()  # before the grid is told a run is coming
        request = self._run_request()  # raises ValueError on a bad filter list
        arguments.check(**vars(request))  # settings set from code (a NaN weight) fail here, named
        if not request.targets:
            raise ValueError("No filters selected.")
        if self.running:  # started by the Run button, or by run() in an earlier cell
            self.stop(wait=True)
        self._targets = list(request.targets)
        self._listener.on_requested(request)  # the grid says it is working before any slow step
        if request.objectives is None:  # the photo's maps are a layer's filters'
            self.photo_panel.follow(request)  # the photo's maps for the new tiles
        self.controls.set_enabled(False)
        self._set_run_button(running=True)
        try:
            self._job.start(request, blocking=blocking)
            if blocking:
                self.evidence.wait()  # the scan after the run (images=): its errors are in the grid
        finally:
            if blocking:
                self._set_run_button(running=False)
                self.controls.set_enabled(True)
        return self._job.result if blocking else None

    def stop(self, wait=True):
        """Stop after the current step; the images reached so far are kept. With ``wait``,
        return once the run has ended (a step being traced is finished first)."""
        self._job.stop(wait=wait, timeout=None)
        self.evidence.stop(wait=wait)  # a scan keeps the examples it found

    def close(self):
        """Stop the run, end the widget's threads (the run's and the one tracing steps ahead)
        and close its views; the widget cannot run again."""
        job = getattr(self, "_job", None)  # None: __init__ failed (close() runs on collection)
        if job is not None:
            job.shutdown(timeout=None)
        if getattr(self, "photo_panel", None) is not None:
            self.photo_panel.shutdown()
        if getattr(self, "evidence", None) is not None:
            self.evidence.stop(wait=True)
        # Controls hidden from the panel (the page number) are not among its children.
        widgets = {id(widget): widget for widget in _descendants(self)}
        controls = getattr(self, "controls", None)
        for value in vars(controls).values() if controls is not None else ():
            if isinstance(value, w.Widget):
                widgets[id(value)] = value
        for widget in widgets.values():
            widget.close()
        super().close()

    def wait(self, timeout=None):
        """Block until the current run ends."""
        self._job.join(timeout)

    def save(self, path):
        """Write the current grid (with labels) as a PNG file."""
        if self._images is None:
            raise RuntimeError("Nothing to save yet: press Run (or call run()) first.")
        labels = [info["label"] for info in self.grid.tile_info]
        render.save_png(render.labelled_grid(self._images, labels, title=self._listener.layer_shown,
                                            tile_size=render.readable_tile_size(self._images)), path)
        return path

    # -- internals ---------------------------------------------------------------------------
    def _prepare(self):
        """Trace the step the current settings would run, in the background (``job.prepare``)."""
        if not self._prepare_enabled or self.running:
            return
        try:
            request = self._run_request()
        except ValueError:  # e.g. a filter list being typed: Run will say what is wrong
            return
        if request.targets:
            self._job.prepare(request)

    def _run_request(self):
        """The run the controls ask for; with ``objectives``, one target per objective instead of
        the pickers' filters."""
        request = self.controls.request()
        if self.objectives is None:
            return request
        return dataclasses.replace(request, objectives=tuple(self.objectives), targets=tuple(range(len(self.objectives))),
                                   labels=None, linear_output=False, diversity=0.0)

    def _toggle(self):
        if self.running:
            self.stop(wait=False)
            return
        self._start()

    def _start(self):
        try:
            self.run()
        except Exception as error:  # a click has no caller to raise to: show it
            self._listener.on_failed(error, "")

    def _on_grid_message(self, _grid, content, _buffers):
        """The enlarged tile's buttons: diverse images of its filter, or back to its page.

        The front-end only states the intent; the controls change here and a run starts (after
        stopping the one in progress), so the panel always shows what the grid is running.
        """
        if isinstance(content, dict) and self.evidence.on_message(content, _buffers):
            return
        if isinstance(content, dict) and content.get("type") == "gif":
            gif_download.answer(self.grid, self.result, content)
            return
        action = {"diverse": self.controls.show_diverse, "page": self.controls.show_page_of}.get(
            content.get("type") if isinstance(content, dict) else None)
        filter_index = content.get("filter") if action else None
        if not isinstance(filter_index, int) or isinstance(filter_index, bool):
            return
        # The tiles' layer, which the picker may have left since the run.
        layer = self._listener.layer_shown or self.controls.layer.value
        if self.running:
            self.stop(wait=True)
        try:
            action(layer, filter_index)
        except ValueError as error:
            self._listener.on_failed(error, "")
            return
        self._start()

    def _offer_copies(self):
        self.grid.diverse_copies = self.controls.copies.value

    def _set_run_button(self, running):
        button = self.controls.run_button
        button.description = "Stop" if running else "Run"
        button.icon = "stop" if running else "play"
        button.button_style = "danger" if running else "success"

    def _layer_picked(self):
        """A new layer in the picker (or from code): a run still going is stopped, as its tiles
        would otherwise arrive under a name that is not theirs."""
        if self.running:
            self.stop(wait=True)
        self._show_layer()

    def _show_layer(self):
        """The header names the tiles' layer; a picked layer that is not theirs is the next one."""
        info = self.controls.layer_info
        shown = self._listener.layer_shown
        grid = self.grid
        with grid.hold_sync():
            if grid.tiles and shown is not None and shown != info.name:
                grid.next_layer = info.name
                return
            grid.next_layer = ""
            grid.layer_name = info.name
            grid.layer_kind = _kind(info)

    def _ended(self):
        self._set_run_button(running=False)
        self.controls.set_enabled(True)


def _kind(info) -> str:
    """"conv 144 ch" from a layer's picker description "name — conv 144 ch"."""
    return info.description.split(" — ", 1)[1]


def _descendants(widget):
    """Every widget inside ``widget``'s children, depth first."""
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)
        yield child


def readable_error(error) -> str:
    """One or two lines for the grid: TensorFlow wraps a cause in its traced call stack, whose
    last line is the cause itself; our own errors are already one readable sentence."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    message = lines[-1] if len(lines) > 3 else " ".join(lines)
    return f"{type(error).__name__}: {message}"


def _copy_numbers(targets):
    """1, 2, 3… for each image of a filter listed more than once; None for a filter listed once."""
    counts = Counter(targets)
    seen = Counter()
    numbers = []
    for target in targets:
        seen[target] += 1
        numbers.append(seen[target] if counts[target] > 1 else None)
    return numbers


class _GridUpdater(Listener):
    """Turns job reports into grid traits (one message per update, throttled by the job)."""

    def __init__(self, widget):
        self.widget = widget
        self.grid = widget.grid
        self._lock = threading.Lock()
        self._first_snapshot_at = None
        self._requested_at = None  # Run pressed (or run() called): every time counts from here
        self._started_at = None  # the model is cut and the step found: optimization begins
        self.layer_shown = None  # the layer of the tiles on screen (the picker may have moved on)

    def on_requested(self, request):
        """Called in run(), before anything slow: the previous tiles go (they are another
        request's) and placeholders for the requested ones say the grid is working."""
        self._requested_at = time.perf_counter()
        self._started_at = self._first_snapshot_at = None
        self._request = request
        self.layer_shown = request.layer
        self.widget._images = None
        self.widget.evidence.clear(request)
        info = self.widget.controls.layer_info  # the request's layer: it was just read from the controls
        grid = self.grid
        with self._lock, grid.hold_sync():
            grid.set_tiles([], [])
            grid.set_history(np.zeros((0, 0), "float32"))
            shown = request.layer if request.objectives is None else "objectives"
            grid.layer_name, grid.layer_kind, grid.next_layer = shown, _kind(info), ""
            grid.error = ""
            grid.progress = 0.0
            grid.placeholder_count = len(request.targets)
            grid.placeholder_labels = self._labels(range(len(request.targets)))
            grid.state = "preparing"
            grid.status = f"preparing the model for layer {request.layer}…"
            grid.run_id += 1

    def on_started(self, request, needs_compile):
        self._started_at = time.perf_counter()
        with self._lock, self.grid.hold_sync():
            self.grid.state = "compiling" if needs_compile else "running"
            self.grid.status = (f"compiling the optimization step for layer {request.layer}… "
                                "(once per layer and size)" if needs_compile else f"starting · {self.widget._device}")

    def on_snapshot(self, snapshot):
        now = time.perf_counter()
        if self._first_snapshot_at is None:
            self._first_snapshot_at = (now, snapshot.step)
        ready = [i for i, image in enumerate(snapshot.images) if image is not None]
        images = np.stack([snapshot.images[i] for i in ready])
        self.widget._images = images
        pngs = [render.to_png(image) for image in images]
        infos = self._infos(ready, snapshot.activations, snapshot.dead)
        with self._lock, self.grid.hold_sync():
            self.grid.set_tiles(pngs, infos)
            self.grid.set_history(np.nan_to_num(snapshot.activation_history[:, ready], nan=0.0))
            self.grid.progress = snapshot.progress
            self.grid.state = "running"
            self.grid.status = self._status(snapshot, now)

    def _labels(self, indices):
        """Tile captions: the filter index or class name, with " · #2" for a diverse copy."""
        targets, labels = self._request.targets, self._request.labels
        if self._request.objectives is not None:
            return [str(self._request.objectives[i]) for i in indices]
        copies = _copy_numbers(targets)
        names = [str(labels[targets[i]]) if labels else str(targets[i]) for i in indices]
        return [f"{name} · #{copies[i]}" if copies[i] else name for i, name in zip(indices, names)]

    def _infos(self, indices, activations, dead):
        targets = self._request.targets
        copies = _copy_numbers(targets)
        return [{"filter": int(targets[i]), "label": label, "activation": float(activations[i]),
                 "dead": bool(dead[i]), "copy": copies[i],
                 "precomputed": i in (atlas.positions if (atlas := self.widget.atlas_tiles) else ())}
                for i, label in zip(indices, self._labels(indices))]

    def _status(self, snapshot, now):
        first_time, first_step = self._first_snapshot_at
        steps_done = snapshot.step - first_step
        rate = steps_done / (now - first_time) if now > first_time and steps_done > 0 else None
        parts = [f"step {snapshot.step}/{snapshot.total_steps}"]
        if rate:
            parts.append(f"{rate:.1f} steps/s")
            parts.append(f"{max(0.0, (snapshot.total_steps - snapshot.step) / rate):.0f} s left")
        parts.append(self.widget._device)
        return " · ".join(parts)

    def on_finished(self, result):
        if len(result.images):
            self.widget._images = result.images
            pngs = [render.to_png(image) for image in result.images]
            infos = self._infos(range(len(result.images)), result.final_activations, result.dead)
        with self._lock, self.grid.hold_sync():
            if len(result.images):
                self.grid.set_tiles(pngs, infos)
                self.grid.set_history(np.nan_to_num(result.activation_history, nan=0.0))
            self.grid.placeholder_count = 0
            self.grid.state = "stopped" if result.stopped else "done"
            self.grid.progress = 1.0 if not result.stopped else self.grid.progress
            n_dead = int(np.sum(result.dead))
            dead_note = f" · {n_dead} dead filter{'s' if n_dead != 1 else ''}" if n_dead else ""
            verb = "stopped at" if result.stopped else "done:"
            targets = self._request.targets
            kind = ("objectives" if self._request.objectives is not None else
                    "diverse copies" if len(set(targets)) < len(targets) else "filters")
            what = f"{len(result.images)} {kind}"
            # Say so when the model computed in reduced precision (chosen, or picked by 'auto').
            computed_in = f" · {result.precision}" if result.precision != "float32" else ""
            from_atlas = self.widget.atlas_tiles.status_note() if self.widget.atlas_tiles else ""
            self.grid.status = (f"{verb} {result.steps} steps × {what} in {self._took(result)}"
                                f"{dead_note} · {self.widget._device}{computed_in}{from_atlas}")
        if self._request.objectives is None:  # natural examples are of a layer's filters
            self.widget.evidence.after_run(self._request, result)
        self.widget._ended()

    def _seconds_since_request(self, until=None):
        until = time.perf_counter() if until is None else until
        return until - (self._requested_at or until)

    def _took(self, result):
        """"61.0 s (31.4 s of it preparing the model)": from the click, preparation named."""
        preparing = self._seconds_since_request(self._started_at) + result.compile_seconds
        return (f"{self._seconds_since_request():.1f} s"
                + (f" ({preparing:.1f} s of it preparing the model)" if preparing >= 0.05 else ""))

    def on_cancelled(self, request):
        seconds = self._seconds_since_request()
        with self._lock, self.grid.hold_sync():
            self.grid.placeholder_count = 0
            self.grid.state = "stopped"
            self.grid.status = f"stopped while preparing the model, after {seconds:.1f} s"
        self.widget._ended()

    def on_failed(self, error, details):
        with self._lock, self.grid.hold_sync():
            self.grid.placeholder_count = 0
            self.grid.state = "error"
            self.grid.error = readable_error(error)
            self.grid.status = ("failed — the tiles show the last images reached" if self.grid.tiles
                                else "failed before the first images")
        self.widget._ended()


def _checked_objectives(objectives, atlas):
    from ..objectives.compiled import checked

    if atlas is not None:
        raise ValueError("ActMaxWidget got objectives= and atlas=: an atlas holds filter images, not objectives; "
                         "pass one or the other.")
    return checked(objectives)
