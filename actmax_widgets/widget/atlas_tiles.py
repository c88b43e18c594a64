"""``ActMaxWidget(model, atlas="DIR")``: a built atlas's images shown at once, computing only
what it lacks.

The job runs ``compute`` (here) instead of ``visualize_filters``: the tiles the atlas holds are
read from disk and sent in a first snapshot before anything is traced; the others are computed
by ``visualize_filters`` as usual, and each of its snapshots and its result are widened back to
all the requested tiles. The grid marks the atlas's tiles ``precomputed`` (a badge). Without a
Run, picking a layer or filters the atlas holds shows its tiles at once too (``show``).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .. import render
from ..atlas.reader import open_atlas
from ..result import ActMaxResult, Snapshot
from ..visualization import visualize_filters


class AtlasTiles:
    """The widget's atlas: which requested tiles it holds, and runs that compute the rest."""

    def __init__(self, widget, path, start_layer_given=True):
        self.atlas = open_atlas(path, widget.model)  # another model's atlas is refused here
        self.widget = widget
        self._start_layer_given = start_layer_given
        self.enabled = True  # False: every tile is computed again (other settings than the atlas's)
        self.positions = frozenset()  # the tiles of the current run that came from the atlas

    def attach(self):
        """Runs go through ``compute``; picking a layer or filters shows the atlas's tiles (this
        observer comes after the widget's own, which stops a run on a new layer)."""
        widget = self.widget
        widget._job.compute = self.compute
        controls = widget.controls
        for control in (controls.layer, controls.mode, controls.page, controls.page_size, controls.filter_text):
            control.observe(lambda _: self.show(), "value")
        held_layers = [layer["name"] for layer in self.atlas.layers if self.atlas.filters(layer["name"])]
        if not self._start_layer_given and held_layers and controls.layer.value not in held_layers:
            controls.layer.value = held_layers[0]  # the default layer is not in the atlas: one that is
        self.show()

    # -- a run ------------------------------------------------------------------------------
    def held(self, layer, targets, diversity=0.0) -> dict:
        """``{position: filter}`` of the requested tiles the atlas holds (none for diverse
        copies: the atlas has one image per filter)."""
        plain = all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in targets)
        if not self.enabled or diversity or not plain or len(set(targets)) < len(targets):
            return {}
        return {i: int(t) for i, t in enumerate(targets) if self.atlas.has(layer, int(t))}

    def compute(self, model, layer, targets, *, on_snapshot=None, on_start=None, **options):
        """``visualize_filters`` for the tiles the atlas lacks; the atlas's tiles at once."""
        targets = list(targets)
        held = self.held(layer, targets, options.get("diversity") or 0.0)
        self.positions = frozenset(held)
        if not held:
            return visualize_filters(model, layer, targets, on_snapshot=on_snapshot, on_start=on_start, **options)
        stored = {i: self.atlas.image(layer, f) for i, f in held.items()}
        curves = {i: self.atlas.curve(layer, f) or [self.atlas.activation(layer, f) or 0.0] for i, f in held.items()}
        missing = [i for i in range(len(targets)) if i not in held]
        merge = _Merge(targets, stored, curves, missing)
        if on_snapshot is not None:
            on_snapshot(merge.snapshot(None))  # before any tracing: the atlas's tiles at once
        if not missing:
            settings = self.atlas.settings
            return merge.result(None, layer, options.get("labels"), settings.get("steps", 0), settings.get("seed", 0))
        part = visualize_filters(
            model, layer, [targets[i] for i in missing], on_start=on_start,
            on_snapshot=None if on_snapshot is None else (lambda snapshot: on_snapshot(merge.snapshot(snapshot))),
            **options)
        return merge.result(part, layer, options.get("labels"), part.steps, part.seed)

    def status_note(self) -> str:
        """" · 3 of 8 tiles from the atlas" for the grid's status line ("" without any)."""
        count = len(self.positions)
        return f" · {count} of {len(self.widget._targets)} tiles from the atlas" if count else ""

    # -- without a run ----------------------------------------------------------------------
    def show(self):
        """The atlas's tiles for the layer and filters now picked, at once (nothing computed);
        the grid is left alone when the atlas holds none of them or a run is going."""
        widget = self.widget
        try:
            request = widget.controls.request()
        except ValueError:  # a filter list being typed
            return
        held = self.held(request.layer, list(request.targets), request.diversity)
        if widget.running or not held:
            return
        positions = sorted(held)
        images = [self.atlas.image(request.layer, held[i]) for i in positions]
        labels = [str(request.labels[held[i]]) if request.labels else str(held[i]) for i in positions]
        infos = [{"filter": held[i], "label": label, "activation": self.atlas.activation(request.layer, held[i]),
                  "precomputed": True} for i, label in zip(positions, labels)]
        rest = len(request.targets) - len(held)
        grid = widget.grid
        with grid.hold_sync():
            grid.set_tiles([render.to_png(image) for image in images], infos)
            grid.set_history(np.zeros((0, len(images)), "float32"))
            grid.layer_name, grid.next_layer = request.layer, ""
            grid.layer_kind = widget.controls.layer_info.description.split(" — ", 1)[-1]
            grid.placeholder_count, grid.error, grid.progress = 0, "", 1.0
            grid.state = "done" if not rest else "idle"
            grid.status = (f"{len(held)} precomputed tiles from the atlas" +
                           (f" · press Run to compute the other {rest}" if rest else ""))
        widget._listener.layer_shown = request.layer
        widget._images = _stack(images)


class _Merge:
    """Puts the atlas's tiles and a partial run's back in the requested order."""

    def __init__(self, targets, stored, curves, missing):
        self.targets, self.stored, self.curves, self.missing = targets, stored, curves, missing

    def _atlas_image(self, i, like):
        return _fit(self.stored[i], None if like is None else like.shape)

    def _like(self, images):
        return next((image for image in images if image is not None), None)

    def snapshot(self, part):
        n = len(self.targets)
        computed = part.images if part is not None else [None] * len(self.missing)
        like = self._like(computed)
        images = [None] * n
        for i in self.stored:
            images[i] = self._atlas_image(i, like)
        for j, i in enumerate(self.missing):
            images[i] = computed[j]
        steps = part.activation_history.shape[0] if part is not None else 0
        return Snapshot(
            step=part.step if part else 0, total_steps=part.total_steps if part else 1, images=images,
            activations=self._column(part.activations if part else None, final=True),
            losses=self._column(part.losses if part else None, final=False),
            activation_history=self._history(part.activation_history if part else None, steps),
            dead=self._flags(part.dead if part else None), seconds=part.seconds if part else 0.0)

    def result(self, part, layer, labels, steps, seed):
        n = len(self.targets)
        like = part.images[0] if part is not None and len(part.images) else None
        images = [None] * n
        raw = [None] * n
        for i in self.stored:
            images[i] = self._atlas_image(i, like)
            raw[i] = images[i].astype("float32")  # no raw input was stored: the image in 0..255
        for j, i in enumerate(self.missing):
            images[i], raw[i] = part.images[j], part.raw_images[j]
        rows = part.activation_history.shape[0] if part is not None else max(len(c) for c in self.curves.values())
        history = self._history(part.activation_history if part is not None else None, rows)
        names = [str(labels[t]) if labels else str(t) for t in self.targets]
        return ActMaxResult(
            images=_stack(images), raw_images=np.stack(raw), targets=list(self.targets), labels=names,
            layer_name=layer, loss_history=np.zeros_like(history), activation_history=history,
            term_history={}, dead=self._flags(part.dead if part is not None else None),
            steps=int(steps or 0), stopped=bool(part.stopped) if part is not None else False, seed=int(seed or 0),
            seconds=part.seconds if part is not None else 0.0,
            compile_seconds=part.compile_seconds if part is not None else 0.0,
            precision=part.precision if part is not None else "float32",
            frames=[part.frames[self.missing.index(i)] if part is not None and part.frames and i in self.missing
                    else [] for i in range(n)])

    def _column(self, values, final):
        out = np.full(len(self.targets), np.nan, "float32")
        for i, curve in self.curves.items():
            out[i] = curve[-1] if final and curve[-1] is not None else (np.nan if final else 0.0)
        if values is not None:
            out[self.missing] = values
        return out

    def _history(self, part_history, rows):
        """(rows, n): the run's columns as they are, each atlas curve stretched over the rows."""
        out = np.full((rows, len(self.targets)), np.nan, "float32")
        for i, curve in self.curves.items():
            values = np.array([np.nan if v is None else v for v in curve], "float32")
            if rows:
                out[:, i] = np.interp(np.linspace(0, 1, rows), np.linspace(0, 1, len(values)), values)
        if part_history is not None and rows:
            out[:, self.missing] = part_history
        return out

    def _flags(self, part_dead):
        dead = np.zeros(len(self.targets), bool)
        for i, curve in self.curves.items():
            values = [v for v in curve if v is not None]
            dead[i] = bool(values) and max(values) == min(values) and len(values) > 1
        if part_dead is not None:
            dead[self.missing] = part_dead
        return dead


def _fit(image, shape):
    """The atlas's image at the run's size and channels (the atlas may be of another size)."""
    if image.ndim == 2:
        image = image[..., None]
    if shape is None or image.shape == tuple(shape):
        return image
    height, width, channels = shape
    if image.shape[:2] != (height, width):
        pictures = [Image.fromarray(image[..., c]).resize((width, height), Image.BILINEAR)
                    for c in range(image.shape[-1])]
        image = np.stack([np.asarray(p) for p in pictures], axis=-1)
    if image.shape[-1] != channels:
        image = (image.mean(axis=-1, keepdims=True).astype("uint8") if channels == 1
                 else np.repeat(image[..., :1], channels, axis=-1))
    return image


def _stack(images):
    like = images[0]
    return np.stack([_fit(image, like.shape) for image in images]).astype("uint8")
