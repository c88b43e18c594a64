"""Which layers of a model can be visualized, and what their outputs look like.

Everything here reads the model's structure only; nothing runs TensorFlow. The widget uses it to
fill its layer picker, the core uses it to validate a request before any long computation.
"""
from __future__ import annotations

import dataclasses
import re

import keras

from . import model_facts, tokens, utils

# Layers whose output is the input in another shape or scale: their "filters" are input pixels.
_NOT_VISUALIZABLE = (
    "InputLayer", "Rescaling", "Normalization", "Resizing", "CenterCrop", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "Reshape", "Flatten", "Permute", "RepeatVector",
)


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """What one layer outputs, in the terms a person picking a layer thinks in."""

    name: str  # as a person names it: 'conv2', or 'base/conv2' inside a nested model
    index: int  # into the layers of the model computed with (``model_facts``): model.layers unless nested
    class_name: str
    kind: str  # "conv2d", "conv1d", "conv3d", "dense" or "tokens" (a transformer's (B, tokens, C))
    n_filters: int
    output_shape: tuple
    channel_axis: int  # in the output, counting the batch axis
    grid: tuple | None = None  # tokens only: (n_prefix, rows, cols), see ``tokens``

    @property
    def spatial_axes(self) -> tuple:
        rank = len(self.output_shape)
        return tuple(a for a in range(1, rank) if a != self.channel_axis % rank)

    @property
    def description(self) -> str:
        """E.g. ``'block3a_expand_conv — conv 144 ch'`` or ``'predictions — dense 1000 units'``."""
        if self.kind == "dense":
            return f"{self.name} — dense {self.n_filters} units"
        if self.kind == "tokens":
            n_prefix, rows, cols = self.grid
            prefix = {0: "", 1: " + class token"}.get(n_prefix, f" + {n_prefix} class/register tokens")
            return f"{self.name} — tokens {self.n_filters} ch ({rows}×{cols} patches{prefix})"
        return f"{self.name} — {self.kind.replace('2d', '')} {self.n_filters} ch"


def model_is_channels_first(model) -> bool:
    """True when the model's convolutions read channels-first tensors."""
    for layer in model.layers:
        if getattr(layer, "data_format", None) == "channels_first":
            return True
        if getattr(layer, "data_format", None) == "channels_last":
            return False
    return keras.config.image_data_format() == "channels_first"


def channel_axis_of(layer, rank: int, channels_first: bool) -> int:
    """The channel axis of ``layer``'s output: its own data format when it has one, else the model's."""
    if rank == 2:
        return 1
    data_format = getattr(layer, "data_format", None)
    if data_format is not None:
        return 1 if data_format == "channels_first" else rank - 1
    axis = getattr(layer, "axis", None)  # BatchNormalization / LayerNormalization
    if isinstance(axis, int):
        return axis % rank
    return 1 if channels_first else rank - 1


def _single_output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return None
    if isinstance(output, (list, tuple, dict)):
        return None
    return tuple(output.shape)


def producer_of(layer):
    """The one layer whose output ``layer`` takes, or None (several inputs, or a layer called
    more than once)."""
    if len(layer._inbound_nodes) != 1:
        return None
    tensors = layer._inbound_nodes[0].input_tensors
    return tensors[0]._keras_history.operation if len(tensors) == 1 else None


def describe_layer(model, layer) -> LayerInfo:
    """``LayerInfo`` for ``layer`` (an index into ``model.layers``, a name or a layer object; a
    layer inside a nested model by ``'<nested model>/<layer>'``, see ``model_facts``).

    Raises
    ------
    ValueError
        If the layer is missing, only reshapes its input (``Flatten``, ``Dropout``, ...) or its
        output is not one tensor of shape ``(B, units)``, ``(B, L, C)``,
        ``(B, H, W, C)``/``(B, C, H, W)`` or 3-D volumes; if the model has several inputs.
    TypeError
        If the model has no symbolic input (subclassed): it must be rebuilt functionally; if its
        input is integer (token ids): it has no gradient.
    """
    facts = model_facts.of(model)  # subclassed, multi-input, integer-input models: say so first
    model = facts.working
    layer = resolve_layer(model, facts.working_name(layer))
    index = model.layers.index(layer)
    name = facts.catalogue_name(layer.name)
    if layer.__class__.__name__ in _NOT_VISUALIZABLE:
        raise ValueError(
            f"Layer '{name}' ({layer.__class__.__name__}) only reshapes, rescales or passes on "
            "its input: its units are input values, not features. Pick a layer that computes "
            "features (a convolution, an activation, a dense layer)."
        )
    shape = _single_output_shape(layer)
    if shape is None:
        raise ValueError(
            f"Layer '{name}' has no single symbolic output (it is shared, has several "
            "outputs, or the model is subclassed); pick another layer."
        )
    rank = len(shape)
    if rank < 2 or rank > 5:
        raise ValueError(
            f"Layer '{name}' outputs shape {shape}; only (batch, units), (batch, length, "
            "channels) and image-like (batch, H, W, channels) outputs can be visualized."
        )
    axis = channel_axis_of(layer, rank, model_is_channels_first(model))
    n_filters = shape[axis]
    if n_filters is None:
        raise ValueError(f"Layer '{name}' outputs shape {shape} with an unknown channel count.")
    kind = {2: "dense", 3: "conv1d", 4: "conv2d", 5: "conv3d"}[rank]
    grid = _token_grid(model, shape, axis)
    if grid is not None:
        kind = "tokens"
    return LayerInfo(name, index, layer.__class__.__name__, kind, int(n_filters), shape, axis, grid)


def _token_grid(model, shape, channel_axis):
    """``(n_prefix, rows, cols)`` when a ``(B, tokens, C)`` output of an image model is a
    transformer's tokens (the patch grid fits the image), else None: a 1-D convolution of a
    sequence model keeps kind "conv1d"."""
    image = utils.model_input(model).shape
    if len(shape) != 3 or channel_axis != 2 or len(image) != 4 or shape[1] is None:
        return None
    spatial = image[2:] if model_is_channels_first(model) else image[1:3]
    return tokens.grid_for(int(shape[1]), tuple(spatial))


def resolve_layer(model, layer):
    """The layer object for an index into ``model.layers``, a name, or a layer of the model."""
    if isinstance(layer, str):
        return model.layers[utils.find_layer_idx(model, layer)]
    if isinstance(layer, int):
        n = len(model.layers)
        if not -n <= layer < n:
            raise ValueError(
                f"layer_idx {layer} is out of range: model '{model.name}' has {n} layers "
                f"(valid: 0..{n - 1}, or a layer name)."
            )
        return model.layers[layer]
    if isinstance(layer, keras.layers.Layer) and layer in model.layers:
        return layer
    raise TypeError(f"Expected a layer index, name or one of the model's layers, got {layer!r}.")


def visualizable_layers(model) -> list[LayerInfo]:
    """The layers worth visualizing, in model order, each with its kind and filter count; those
    inside nested models (a pretrained base) too, named ``'<nested model>/<layer>'``."""
    infos = []
    for layer in model_facts.of(model).working.layers:
        if layer.__class__.__name__ in _NOT_VISUALIZABLE:
            continue
        try:
            info = describe_layer(model, layer)
        except (ValueError, TypeError):
            continue
        if info.kind == "dense" and info.class_name not in ("Dense", "Activation", "Softmax"):
            continue  # pooled or flattened features: their "units" are channels seen elsewhere
        infos.append(info)
    return infos


def default_layer(model) -> LayerInfo:
    """A mid-depth convolutional layer: its filters show textures, the most telling level.

    Prefers outputs after a non-linearity (activation or residual add) at about 45% of the
    convolutional depth; falls back to the last visualizable layer for dense-only models.
    """
    infos = visualizable_layers(model)
    if not infos:
        raise ValueError(f"Model '{model.name}' has no layer whose output can be visualized.")
    convs = [i for i in infos if i.kind != "dense"]
    if not convs:
        return infos[-1]
    preferred = [i for i in convs if i.class_name in ("Activation", "ReLU", "Add")
                 or re.search(r"activation|relu|add", i.name)] or convs
    return preferred[int(0.45 * (len(preferred) - 1) + 0.5)]


def check_filter_indices(info: LayerInfo, filter_indices) -> list:
    """Validate filter indices against the layer; return them as a list.

    Each entry is an int or, for a joint target, a list of ints; a ``range`` is its ints. Negative
    indices are errors (not Python's count-from-the-end) because a silent wrap-around would
    visualize the wrong filter.
    """
    if filter_indices is None:
        return list(range(info.n_filters))
    if isinstance(filter_indices, range):  # range(8): eight filters, as a list of them would be
        filter_indices = list(filter_indices)
    checked = []
    for entry in utils.listify(filter_indices):
        if isinstance(entry, (list, tuple)) and not entry:
            raise ValueError("filter_indices holds an empty joint target []: give it at least one index, "
                             "e.g. [[0, 5]], or drop it.")
        for idx in utils.listify(entry):
            if isinstance(idx, bool) or not hasattr(idx, "__index__"):  # True is no index: a slip
                raise TypeError(f"filter_indices entry {idx!r} is not an integer: pass filter indices as ints, "
                                f"e.g. filter_indices=[0, 5], or a list of them for one joint image.")
            if not 0 <= int(idx) < info.n_filters:
                what = "unit" if info.kind == "dense" else "filter"
                raise ValueError(
                    f"filter_indices: {what.capitalize()} index {int(idx)} is out of range for layer '{info.name}' "
                    f"(output {info.output_shape}): valid {what} indices are 0..{info.n_filters - 1}."
                )
        checked.append([int(i) for i in entry] if isinstance(entry, (list, tuple)) else int(entry))
    return checked


def parse_filter_spec(spec: str, n_filters: int) -> list[int]:
    """Parse ``'0-15, 32, 40'`` (or ``'all'``) into sorted unique indices within ``0..n_filters-1``.

    Raises ``ValueError`` naming the bad part of the text.
    """
    text = spec.strip().lower()
    if text in ("", "all", "*"):
        return list(range(n_filters))
    chosen = set()
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:\s*[-:]\s*(\d+))?", part)
        if not match:
            raise ValueError(f"Can't read '{part}' in filters '{spec}': use e.g. '0-15, 32, 40'.")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise ValueError(f"Range '{part}' runs backwards: write it as {last}-{first}.")
        if last >= n_filters:
            raise ValueError(f"'{part}' goes past the last filter: valid indices are 0..{n_filters - 1}.")
        chosen.update(range(first, last + 1))
    return sorted(chosen)
