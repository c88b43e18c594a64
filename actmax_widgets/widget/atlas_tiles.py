"""``ActMaxWidget(model, atlas="DIR")``: a built atlas's images shown at once, computing only
what it lacks.

The job runs ``compute`` (here) instead of ``visualize_filters``: the tiles the atlas holds are
read from disk and sent in a first snapshot before anything is traced; the others are computed
by ``visualize_filters`` as usual, and each of its snapshots and its result are widened back to
all the requested tiles. The grid marks the atlas's tiles ``precomputed`` (a badge). Without a
Run, picking a layer or filters the atlas holds shows its tiles at once too (``show``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import traitlets

from .. import photos, render, styles
from ..atlas.reader import open_atlas
from ..result import ActMaxResult, Snapshot
from ..visualization import visualize_filters
from .job import recipe_for


class AtlasTiles:
    """The widget's atlas: which requested tiles it holds, and runs that compute the rest."""

    def __init__(self, widget, path, start_layer_given=True):
        self.atlas = open_atlas(path, widget.model)  # another model's atlas is refused here
        self.widget = widget
        self._start_layer_given = start_layer_given
        self.enabled = True  # False: every tile is computed again (other settings than the atlas's)
        self.positions = frozenset()  # the tiles of the current run that came from the atlas
        self.differing = []  # the last run's settings the atlas's images were not made with

    def attach(self):
        """Runs go through ``compute``; picking a layer or filters shows the atlas's tiles (this
        observer comes after the widget's own, which stops a run on a new layer)."""
        widget = self.widget
        widget._job.compute = self.compute
        controls = widget.controls
        # The settings too: the status says whether the atlas's images are what Run would make.
        for control in (controls.layer, controls.mode, controls.page, controls.page_size, controls.filter_text,
                        controls.style, controls.steps, controls.image_size, controls.seed, controls.jitter,
                        controls.linear_output, controls.grad_modifier, controls.backprop_modifier,
                        controls.act_max_weight, controls.tv_weight, controls.tv_enabled, controls.lp_norm_weight,
                        controls.lp_enabled):
            control.observe(lambda _: self.show(), "value")
        held_layers = [layer["name"] for layer in self.atlas.layers if self.atlas.filters(layer["name"])]
        if not self._start_layer_given and held_layers and controls.layer.value not in held_layers:
            controls.layer.value = held_layers[0]  # the default layer is not in the atlas: one that is
        self._adopt_settings()
        self.show()

    def _adopt_settings(self):
        """Start on the style, steps, seed, size and loss weights the atlas was made with, so that
        Run reuses its tiles; changing them afterwards is the user's choice (the status then says
        the atlas is not used). A value the control cannot take leaves the widget's own."""
        controls, settings = self.widget.controls, self.atlas.settings
        size = _side(self.atlas.image_size(controls.layer.value))
        wanted = ((controls.style, settings.get("style")), (controls.steps, settings.get("steps")),
                  (controls.seed, settings.get("seed")),
                  (controls.image_size, size[0] if size and size[0] == size[1] else None))
        for control, value in wanted:
            if value is not None and value != control.value:
                try:
                    control.value = value
                except traitlets.TraitError:
                    pass
        if settings.get("style") in styles.names():  # and its loss weights (a weight of 0: its box off)
            recipe = styles.get(settings["style"])
            controls.act_max_weight.value = recipe.act_max_weight
            for weight, enabled, value in ((controls.tv_weight, controls.tv_enabled, recipe.tv_weight),
                                           (controls.lp_norm_weight, controls.lp_enabled, recipe.lp_norm_weight)):
                enabled.value = value > 0
                if value > 0:
                    weight.value = value

    # -- a run ------------------------------------------------------------------------------
    def held(self, layer, targets, diversity=0.0) -> dict:
        """``{position: filter}`` of the requested tiles the atlas holds (none for diverse
        copies: the atlas has one image per filter)."""
        plain = all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in targets)
        if not self.enabled or diversity or not plain or len(set(targets)) < len(targets):
            return {}
        return {i: int(t) for i, t in enumerate(targets) if self.atlas.has(layer, int(t))}

    def differences(self, layer, request) -> list:
        """What of ``request``'s settings the atlas's images of ``layer`` were not made with, in
        words (``["steps 64 (atlas: 4)", "TV weight 0.3 (atlas: 0.0)"]``); empty when they are what
        it would make."""
        run, settings = self.settings_of(request), self.atlas.settings
        size = self.atlas.image_size(layer)
        made_with = {"style": settings.get("style"), "steps": settings.get("steps"),
                     "image size": None if size is None else _side(size), "seed": settings.get("seed"),
                     "linear output": False, "jitter": False,  # built on the model as it is, style only
                     "gradient modifier": None, "backprop modifier": None}
        found = [f"{name} {_words(run[name])} (atlas: {_words(theirs)})" for name, theirs in made_with.items()
                 if run[name] != theirs and (theirs is not None or name not in _UNRECORDED)]
        return found + self._recipe_differences(request)

    def _recipe_differences(self, request) -> list:
        """The request's ``Recipe`` fields (loss weights, ...) that are not the atlas style's own
        (the atlas is built with its style's recipe as it is); none when the styles differ (that
        is said) or the atlas does not record its style."""
        style = self.atlas.settings.get("style")
        if style is None or request.style != style or style not in styles.names():
            return []
        ours, theirs = recipe_for(request), styles.get(style)
        return [f"{_RECIPE_WORDS.get(field.name, field.name)} {getattr(ours, field.name)} "
                f"(atlas: {getattr(theirs, field.name)})" for field in dataclasses.fields(ours)
                if field.name not in _SAID and getattr(ours, field.name) != getattr(theirs, field.name)]

    def compute(self, model, request, *, on_snapshot=None, on_start=None, **options):
        """``visualize_filters`` for the tiles of ``request`` (the job's ``RunRequest``, passed in
        from its thread) the atlas lacks; the atlas's tiles at once. ``options`` (its 1 step at
        seed 0 when traced ahead) do not decide: the request's settings do."""
        layer, targets = request.layer, list(request.targets)
        tracing_ahead = options.get("stop_event") is None  # job.prepare: 1 step at seed 0, shown nowhere
        # Other settings make other images: the atlas's are not passed off as this run's.
        differing = self.differences(layer, request) if self.atlas.filters(layer) else []
        held = {} if differing else self.held(layer, targets, request.diversity)
        if not tracing_ahead:
            self.differing, self.positions = differing, frozenset(held)
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
        result = merge.result(part, layer, options.get("labels"), part.steps, part.seed)
        if len(result.targets) < len(targets):  # stopped: the tiles are the result's, in its order
            self.positions = frozenset(k for k, t in enumerate(result.targets) if t in held.values())
            listener = self.widget._listener
            listener._request = dataclasses.replace(listener._request, targets=tuple(result.targets))
        return result

    def status_note(self) -> str:
        """" · 3 of 8 tiles from the atlas" for the grid's status line; why the atlas was not
        used when its images were made with other settings; "" otherwise."""
        if self.differing:
            return f" · atlas not used, made with other settings: {', '.join(self.differing)}"
        count = len(self.positions)
        return f" · {count} of {len(self.widget._listener._request.targets)} tiles from the atlas" if count else ""

    @staticmethod
    def settings_of(request) -> dict:
        """The settings of ``request`` that decide its images, as ``differences`` compares them."""
        return {"style": request.style, "steps": request.steps, "seed": request.seed,
                "image size": _side(request.image_size), "linear output": bool(request.linear_output),
                "jitter": bool(request.jitter > 0), "gradient modifier": request.grad_modifier,
                "backprop modifier": request.backprop_modifier}

    # -- without a run ----------------------------------------------------------------------
    def show(self):
        """The atlas's tiles for the layer and filters now picked, at once (nothing computed);
        the grid is left alone when the atlas holds none of them or a run is going. The widget
        then describes these tiles: ``result`` (and the GIF download) is built from them, the
        evidence and the photo's maps follow them."""
        widget = self.widget
        try:
            request = widget.controls.request()
        except ValueError:  # a filter list being typed
            return
        held = self.held(request.layer, list(request.targets), request.diversity)
        if widget.running or not held:
            return
        filters = [held[i] for i in sorted(held)]
        shown = dataclasses.replace(request, targets=tuple(filters))  # what the tiles are
        result = self._result_of(shown)
        labels = [str(request.labels[f]) if request.labels else str(f) for f in filters]
        infos = [{"filter": f, "label": label, "activation": self.atlas.activation(request.layer, f),
                  "precomputed": True} for f, label in zip(filters, labels)]
        rest = len(request.targets) - len(held)
        differing = self.differences(request.layer, request)
        grid = widget.grid
        # The lock the run's and the photo's updates take: a late one cannot interleave with these.
        with widget._listener._lock, grid.hold_sync():
            grid.set_tiles([render.to_png(image) for image in result.images], infos)
            grid.set_history(np.zeros((0, len(filters)), "float32"))
            grid.layer_name, grid.next_layer = request.layer, ""
            grid.layer_kind = widget.controls.layer_info.description.split(" — ", 1)[-1]
            grid.placeholder_count, grid.error, grid.progress = 0, "", 1.0
            grid.state = "done" if not rest and not differing else "idle"
            grid.status = (f"{len(held)} precomputed tiles from the atlas" +
                           (f" · press Run to compute the other {rest}" if rest else "") +
                           (f" · made with other settings than yours ({', '.join(differing)}): "
                            "Run computes them with yours" if differing else ""))
        widget._listener.layer_shown = request.layer
        widget._images, widget._job.result = result.images, result
        widget.evidence.clear(shown)
        widget.evidence.after_run(shown, result)
        widget.photo_panel.follow(shown)

    def _result_of(self, request):
        """The ``ActMaxResult`` of the atlas's tiles of ``request`` (all of them held)."""
        layer, targets = request.layer, list(request.targets)
        stored = {i: self.atlas.image(layer, f) for i, f in enumerate(targets)}
        curves = {i: self.atlas.curve(layer, f) or [self.atlas.activation(layer, f) or 0.0]
                  for i, f in enumerate(targets)}
        settings = self.atlas.settings
        return _Merge(targets, stored, curves, []).result(None, layer, request.labels, settings.get("steps", 0),
                                                          settings.get("seed", 0))


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
        """The atlas's tiles and the run's, in the requested order. A stopped run returns only
        the targets it finished: the positions it did not reach are left out (as
        ``visualize_filters`` leaves them out) and the result is marked stopped."""
        position = {self.targets[i]: i for i in self.missing}  # targets are distinct with an atlas
        done = [position[t] for t in part.targets] if part is not None else []
        keep = sorted(set(self.stored) | set(done))
        like = part.images[0] if done else None
        images, raw = {}, {}
        for i in self.stored:
            images[i] = self._atlas_image(i, like)
            raw[i] = images[i].astype("float32")  # no raw input was stored: the image in 0..255
        for j, i in enumerate(done):
            images[i], raw[i] = part.images[j], part.raw_images[j]
        frames = {i: part.frames[j] for j, i in enumerate(done) if part.frames}
        rows = part.activation_history.shape[0] if part is not None else max(len(c) for c in self.curves.values())
        history = self._history(part.activation_history if part is not None else None, rows, done)[:, keep]
        names = [str(labels[t]) if labels else str(t) for t in self.targets]
        return ActMaxResult(
            images=_stack([images[i] for i in keep]), raw_images=np.stack([raw[i] for i in keep]),
            targets=[self.targets[i] for i in keep], labels=[names[i] for i in keep],
            layer_name=layer, loss_history=np.zeros_like(history), activation_history=history,
            term_history={}, dead=self._flags(part.dead if part is not None else None, done)[keep],
            steps=int(steps or 0), stopped=part is not None and (bool(part.stopped) or len(done) < len(self.missing)),
            seed=int(seed or 0), seconds=part.seconds if part is not None else 0.0,
            compile_seconds=part.compile_seconds if part is not None else 0.0,
            precision=part.precision if part is not None else "float32",
            frames=[frames.get(i, []) for i in keep])  # none kept for the atlas's tiles

    def _column(self, values, final):
        out = np.full(len(self.targets), np.nan, "float32")
        for i, curve in self.curves.items():
            out[i] = curve[-1] if final and curve[-1] is not None else (np.nan if final else 0.0)
        if values is not None:
            out[self.missing] = values
        return out

    def _history(self, part_history, rows, columns=None):
        """(rows, n): the run's columns (at ``columns``, default all it lacks) as they are, each
        atlas curve stretched over the rows."""
        out = np.full((rows, len(self.targets)), np.nan, "float32")
        for i, curve in self.curves.items():
            values = np.array([np.nan if v is None else v for v in curve], "float32")
            if rows:
                out[:, i] = np.interp(np.linspace(0, 1, rows), np.linspace(0, 1, len(values)), values)
        if part_history is not None and rows:
            out[:, self.missing if columns is None else columns] = part_history
        return out

    def _flags(self, part_dead, columns=None):
        dead = np.zeros(len(self.targets), bool)
        for i, curve in self.curves.items():
            values = [v for v in curve if v is not None]
            dead[i] = bool(values) and max(values) == min(values) and len(values) > 1
        if part_dead is not None:
            dead[self.missing if columns is None else columns] = part_dead
        return dead


def _fit(image, shape):
    """The atlas's image at the run's size and channels (the atlas may be of another size)."""
    if image.ndim == 2:
        image = image[..., None]
    if shape is None or image.shape == tuple(shape):
        return image
    fitted = photos.to_channels(photos.resize(image, shape[:2]), shape[-1])
    return fitted.round().clip(0, 255).astype("uint8")


def _side(size):
    """An image size as ``(height, width)`` ints (an int is a square), to compare the widget's
    with the atlas's (JSON gives lists); None stays None."""
    if size is None:
        return None
    return tuple(int(side) for side in size) if isinstance(size, (tuple, list)) else (int(size), int(size))


def _words(value):
    return "×".join(map(str, value)) if isinstance(value, tuple) else str(value)


_UNRECORDED = ("style", "steps", "seed", "image size")  # an atlas that does not say is not held to them
_RECIPE_WORDS = {"act_max_weight": "activation weight", "tv_weight": "TV weight", "lp_norm_weight": "Lp weight"}
# Recipe fields the settings compared before them already say: jitter is the transform added to
# the style's, a backprop modifier drops the style's ReLU warm-up; diverse copies are never held.
_SAID = ("transforms", "grad_modifier", "backprop_modifier", "relu_warmup", "diversity")


def _stack(images):
    like = images[0]
    return np.stack([_fit(image, like.shape) for image in images]).astype("uint8")
