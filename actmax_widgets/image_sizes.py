"""Which image sizes a model can be visualized at, layer by layer.

A model built for 28 × 28 images can still be run at another size up to a convolutional layer:
the layers up to it are rebuilt on a new input (``model_cut.cut_at``). A ``Flatten`` (or a
``Reshape``) before the layer fixes the size: the ``Dense`` after it has one weight per input
pixel, so only the model's own size works there. This module answers "which sizes work here?"
from the model's structure and shape arithmetic alone (milliseconds, no layer is built), so the
widget can offer only those sizes and a wrong size gets a clear error before any work.
"""
from __future__ import annotations

import dataclasses
import numbers

import keras
from keras import tree

from . import catalogue, model_cut, model_facts, utils
from .arguments import MAX_IMAGE_SIDE as MAX_SIDE, MIN_IMAGE_SIDE as MIN_SIDE

# Built-in layers after which the next layers' weights depend on the number of input pixels.
_FIXES_SIZE = ("Flatten", "Reshape")
# Built-in layers whose output has a size of their own whatever comes in: the layers after them
# do not see the input size.
_SETS_SIZE = ("Resizing",)


@dataclasses.dataclass(frozen=True)
class LayerSizes:
    """The image sizes one layer of a model can be visualized at.

    ``model_size`` is the model's own spatial size (``None`` where it takes any); ``fixed_by``
    names the layer that pins the size to ``model_size`` (``None``: any size of at least
    ``min_side`` pixels a side works).
    """

    layer: str
    model_size: tuple
    fixed_by: str | None
    min_side: int = MIN_SIDE

    @property
    def fixed(self) -> bool:
        return self.fixed_by is not None

    @property
    def own_side(self):
        """The model's own size as one int when it is square and known, else None."""
        sides = set(self.model_size)
        return int(self.model_size[0]) if len(sides) == 1 and None not in sides else None

    def accepts(self, size) -> bool:
        """True when the layer can be visualized at ``size`` (an int or a tuple of sides)."""
        size = _as_tuple(size, len(self.model_size))
        if size is None or len(size) != len(self.model_size):
            return False
        if self.fixed:
            return size == tuple(self.model_size)
        return min(size) >= self.min_side

    def describe(self) -> str:
        """One line for a person: what works here and why."""
        if self.fixed:
            return (f"{_show(self.model_size)} px only: '{self.fixed_by}' before '{self.layer}' "
                    f"fixes the size the model takes")
        own = f" (the model's own: {_show(self.model_size)})" if None not in self.model_size else ""
        return f"any size from {self.min_side} px{own}"

    def check(self, size, argument="image_size"):
        """``size`` if the layer runs at it, else a ValueError naming ``argument``, the value and
        the sizes that work."""
        if self.accepts(size):
            return size
        raise ValueError(f"{argument}={size!r} does not work for layer '{self.layer}': {self.describe()}. "
                         f"Use {argument}={self.suggest()!r}.")

    def suggest(self, preferred=None):
        """The size to start at: ``preferred`` capped at the model's own size (a small
        fixed-size net is cheapest at the size it was trained on) and raised to ``min_side``;
        the model's own size where the layer runs at no other."""
        own = self.own_side
        known = None not in self.model_size
        if self.fixed or preferred is None:
            return own or (tuple(self.model_size) if known else model_cut.DEFAULT_IMAGE_SIZE)
        return max(min(preferred, own) if own else preferred, self.min_side)


def sizes_for(model, layer) -> LayerSizes:
    """The ``LayerSizes`` of ``layer`` (a name, index or layer of ``model``)."""
    info = catalogue.describe_layer(model, layer)
    facts = model_facts.of(model)
    model = facts.working  # nested models inlined: a layer inside one is a layer of this graph
    target = model.layers[info.index]
    model_size, _ = model_cut.input_image_size(model)
    model_size = tuple(None if side is None else int(side) for side in model_size)
    if None in model_size:  # built to take any size: the model's author says every size works
        return LayerSizes(info.name, model_size, None, _min_side(model, target))
    fixed_by = fixing_layer(target)
    if fixed_by is not None:
        return LayerSizes(info.name, model_size, facts.catalogue_name(fixed_by), min(model_size))
    return LayerSizes(info.name, model_size, None, _min_side(model, target))


def fixing_layer(target):
    """The name of a layer up to ``target`` that pins the input size, or None.

    A ``Flatten`` or ``Reshape``, or a layer of the user's own whose shapes depend on the
    input's size (``_custom_layer_fixes_size``), that sees the input's size on its way to ``target`` (in a model's
    flat working graph: ``model_facts``). A ``Resizing`` layer hides the input's size from the
    layers after it.
    """
    ancestors, order = set(), []
    waiting = [target]
    while waiting:  # a loop, not recursion: deep nets have paths of hundreds of layers
        layer = waiting.pop()
        if id(layer) in ancestors:
            continue
        ancestors.add(id(layer))
        order.append(layer)
        waiting.extend(_producers(layer))
    sees_size = {}
    for layer in _topological(order):
        producers = _producers(layer)
        sees_size[id(layer)] = (not producers or any(sees_size[id(p)] for p in producers)) and (
            type(layer).__name__ not in _SETS_SIZE)
        feeds_size = not producers or any(sees_size[id(p)] for p in producers)
        if layer is not target and producers and feeds_size and _fixes_size(layer):
            return layer.name
    return None


def _producers(layer):
    return [tensor._keras_history.operation for node in layer._inbound_nodes for tensor in node.input_tensors]


def _topological(layers):
    """``layers`` (closed under producers) ordered so that each comes after its producers."""
    placed, ordered = set(), []
    pending = list(reversed(layers))
    while pending:
        layer = pending[-1]
        missing = [p for p in _producers(layer) if id(p) not in placed]
        if missing:
            pending.extend(missing)
            continue
        pending.pop()
        if id(layer) not in placed:
            placed.add(id(layer))
            ordered.append(layer)
    return ordered


def _fixes_size(layer) -> bool:
    kind = type(layer)
    if kind.__name__ in _FIXES_SIZE:
        return True
    return not kind.__module__.startswith("keras.") and _custom_layer_fixes_size(layer)


def _custom_layer_fixes_size(layer) -> bool:
    """Whether a layer this package does not know (a user's own) pins the input size, judged by
    shape arithmetic at its own input size and at a larger one: it does when it fails there
    (per-pixel weights, a reshape to fixed sizes) or flattens (fewer axes out than in, with a
    feature count that grows with the image, as a Flatten's). A custom rescaling, activation or
    global pooling keeps any size. When in doubt (several inputs, unknown sizes): it pins it."""
    try:
        (tensor,) = [t for node in layer._inbound_nodes for t in node.input_tensors]
        shape = tuple(tensor.shape)
        if len(shape) < 3 or None in shape[1:]:
            return True
        grown = (1,) + tuple(d + 8 for d in shape[1:-1]) + shape[-1:]
        own = layer.compute_output_spec(keras.KerasTensor((1,) + shape[1:], dtype=tensor.dtype)).shape
        larger = layer.compute_output_spec(keras.KerasTensor(grown, dtype=tensor.dtype)).shape
    except Exception:  # noqa: BLE001 - a user's layer may raise anything on a shape it cannot take
        return True
    return len(own) != len(larger) or (len(own) < len(shape) and own[-1] != larger[-1])


def _min_side(model, target) -> int:
    """The smallest square side at which every layer up to ``target`` has a non-empty output
    (valid convolutions and poolings shrink the image), found by doubling then bisecting."""
    if _runs_at(model, target, MIN_SIDE):
        return MIN_SIDE
    low, high = MIN_SIDE, MIN_SIDE * 2
    while not _runs_at(model, target, high):
        if high >= MAX_SIDE:
            return MAX_SIDE
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _runs_at(model, target, middle) else (middle, high)
    return high


def _runs_at(model, target, side) -> bool:
    """Whether shapes stay valid from the input to ``target`` at ``side`` × ``side`` (shape
    arithmetic through each layer's ``compute_output_spec``; nothing is built)."""
    _, channels = model_cut.input_image_size(model)
    spatial = (side,) * len(model_cut.input_image_size(model)[0])
    shape = (1, channels) + spatial if catalogue.model_is_channels_first(model) else (1,) + spatial + (channels,)
    try:
        cut = keras.Model(utils.model_input(model), target.output)
        outputs = _spec_through(cut, keras.KerasTensor(shape, dtype="float32"))
    except (ValueError, TypeError, IndexError):
        return False
    return all(d is None or d > 0 for spec in tree.flatten(outputs) for d in spec.shape)


def _spec_through(functional, inputs):
    # Functional.compute_output_spec checks the input against the model's own size first; running
    # the graph layer by layer skips that check.
    return functional._run_through_graph(inputs, operation_fn=lambda operation: operation.compute_output_spec)


def _is_side(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy ints too


def _as_tuple(size, rank):
    if _is_side(size):
        return (int(size),) * rank
    if isinstance(size, (tuple, list)) and all(_is_side(d) for d in size):
        return tuple(int(d) for d in size)
    return None


def _show(size) -> str:
    return "×".join("any" if d is None else str(d) for d in size)
