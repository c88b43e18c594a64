"""A list of objectives as one term of the compiled step: one image per objective.

The objectives of a run are grouped by *structure* (the tree's shape and layers, without its
numbers). The step evaluates every structure on every sample and keeps, per sample, the one of
its own objective; each tree's numbers (which channel, which position, which vector, the
coefficients) are per-sample tensors read in the tree's pre-order. So a new list whose
objectives have the same structures reuses the traced step, and a batch may mix structures.

Per node, the per-sample data:

- ``channel`` / ``direction``: a channel-space vector ``(C,)`` (one-hot / unit vector) dotted
  with the activation averaged over the layer's positions (one structure for both);
- ``neuron``: a flat position index and the one-hot channel vector;
- ``Scaled``: its factor; ``Constant``: its value; the rest: nothing.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import operator
import zlib

import numpy as np
from keras import ops

from .. import catalogue
from ..engine import _build as engine_build, gram_similarity
from ..input_modifiers import per_sample_take
from ..losses import Loss
from .algebra import (Channel, Constant, Direction, Diversity, LossObjective, Neuron, Product, Quotient,
                      Scaled, Sum, layer_text)


@dataclasses.dataclass(frozen=True)
class LayerView:
    """One layer's output as the objectives see it: ``(B, positions, C)`` channels-last."""

    name: str  # the layer's name in the model the step computes with
    grid: tuple  # spatial sizes: (rows, cols), (length,), () for a dense layer
    channels: int
    channel_axis: int  # in the layer's own output
    tokens: tuple | None = None  # (n_prefix, rows, cols) for a transformer's tokens

    @classmethod
    def of(cls, model, name):
        info = catalogue.describe_layer(model, name)
        if info.grid is not None:
            grid = tuple(info.grid[1:])
        else:
            grid = tuple(info.output_shape[a] for a in info.spatial_axes)
        if any(size is None for size in grid):
            raise ValueError(f"Layer '{info.name}' outputs {info.output_shape} with unknown spatial size: "
                             "give an image_size.")
        return cls(model.layers[info.index].name, grid, info.n_filters, info.channel_axis, info.grid)

    @property
    def positions(self):
        return math.prod(self.grid)

    def features(self, output):
        """The symbolic ``(B, positions * C)`` features of ``output`` (tokens on their patch grid)."""
        if self.tokens is not None:
            from .. import tokens

            output = tokens.to_grid(output, self.tokens)
        elif self.channel_axis % len(output.shape) != len(output.shape) - 1:
            output = ops.moveaxis(output, self.channel_axis, -1)
        return ops.reshape(output, (-1, self.positions * self.channels))


def objective_keys(objectives):
    """A stable int per objective (its signature hashed): with the run's seed it keys the start
    image, so an objective gets the same image alone or in any list."""
    return [zlib.crc32(repr(objective.signature()).encode()) for objective in objectives]


class ObjectivesLoss(Loss):
    """The loss of a batch of objectives (minus each sample's objective), for ``engine.Problem``.

    Parameters
    ----------
    structures : list of Objective
        One representative objective per structure, in the order of ``batch_inputs``' columns.
    layers : dict
        Working layer name -> keras layer of the model the step computes with.
    views : dict
        Working layer name -> ``LayerView``.
    resolved : dict
        Each layer reference the objectives use (a name or an index) -> its working name.
    """

    name = "Objective"

    def __init__(self, structures, layers, views, resolved):
        self.structures = list(structures)
        self.layers, self.views, self.resolved = dict(layers), dict(views), dict(resolved)
        self.custom = _custom_losses(self.structures)
        self._index = {objective.structure(): j for j, objective in enumerate(self.structures)}

    def build_loss(self):
        # One tensor: every layer's features, then each custom loss's value, side by side.
        columns = [self.views[name].features(layer.output) for name, layer in self.layers.items()]
        columns += [_per_sample_column(loss) for loss in self.custom]
        return ops.concatenate(columns, axis=1) if len(columns) > 1 else columns[0]

    def per_sample_loss(self, output, inputs):
        """(B,) float32: minus each sample's objective. ``inputs`` from ``batch_inputs``."""
        reader = _Reader(self, ops.cast(output, "float32"), inputs["groups"])
        total = 0.0
        for j, representative in enumerate(self.structures):
            member = inputs["member"][:, j]
            data = iter(inputs["slots"][j])
            total += member * _value(representative, data, reader, member > 0)
        return -total

    # -- host side: the per-sample data ---------------------------------------------------
    def sample_data(self, objective):
        """The numbers of ``objective`` in its tree's pre-order (checked against the layers)."""
        data = []
        for node in objective.nodes():
            data += _node_data(node, self.views.get(self.resolved.get(_layer_of(node))))
        return data

    def batch_inputs(self, objectives, data, groups):
        """The step's per-sample tensors (as NumPy) for ``objectives`` (one per sample), their
        ``sample_data`` and diversity groups (equal ids: copies of one objective)."""
        batch = len(objectives)
        member = np.zeros((batch, len(self.structures)), "float32")
        slots = []
        for j, representative in enumerate(self.structures):
            template = self.sample_data(representative)
            columns = [np.zeros((batch,) + np.shape(value), np.asarray(value).dtype) for value in template]
            for b, objective in enumerate(objectives):
                if self._index[objective.structure()] == j:
                    member[b, j] = 1.0
                    for column, value in zip(columns, data[b]):
                        column[b] = value
            slots.append(tuple(columns))
        _, ids = np.unique(np.asarray(groups), return_inverse=True)
        return {"member": member, "groups": np.eye(batch, dtype="float32")[ids.reshape(-1)],
                "slots": tuple(slots)}


def group_ids(objectives):
    """An id per objective, equal for equal objectives: the copies ``diversity`` pushes apart."""
    ids = {}
    return [ids.setdefault(objective.signature(), len(ids)) for objective in objectives]


def chunk_inputs(loss, objectives, data, keys, groups, span, chunk_size):
    """The keys and ``batch_inputs`` of objectives ``span = (start, end)``, padded to ``chunk_size``
    with the last one (in a group of its own, so padding never counts as a copy) so every chunk
    reuses the traced step."""
    start, end = span
    index = list(range(start, end)) + [end - 1] * (chunk_size - (end - start))
    padded_groups = [groups[i] for i in range(start, end)] + [-1 - k for k in range(chunk_size - (end - start))]
    inputs = loss.batch_inputs([objectives[i] for i in index], [data[i] for i in index], padded_groups)
    return np.asarray(keys)[index], inputs


def _layer_of(node):
    return getattr(node, "layer", None)


def _custom_losses(structures):
    found = []
    for representative in structures:
        for node in representative.nodes():
            if isinstance(node, LossObjective) and all(node.loss is not seen for seen in found):
                found.append(node.loss)
    return found


def _per_sample_column(loss):
    value = engine_build(loss)  # names the loss when its build_loss() fails
    if len(value.shape) != 1:
        raise ValueError(f"Loss '{loss.name}' ({type(loss).__name__}).build_loss() returned shape "
                         f"{tuple(value.shape)}; as an objective it must return one value per sample, shape "
                         "(batch,), e.g. -ops.mean(output[..., channel], axis=(1, 2)).")
    return ops.reshape(value, (-1, 1))


def _node_data(node, view):
    """The per-sample numbers of one node (a list: one entry per tensor the step reads)."""
    if isinstance(node, Channel):
        _check_channel(node, view)
        return [np.eye(view.channels, dtype="float32")[node.n]]
    if isinstance(node, Direction):
        if node.vector.size != view.channels:
            raise ValueError(f"direction({layer_text(node.layer)}, vector): vector has {node.vector.size} "
                             f"values; layer '{view.name}' has {view.channels} channels: pass one number per "
                             "channel.")
        return [node.vector]
    if isinstance(node, Neuron):
        _check_channel(node, view)
        return [np.int32(_position_index(node, view)), np.eye(view.channels, dtype="float32")[node.n]]
    if isinstance(node, Scaled):
        return [np.float32(node.factor)]
    if isinstance(node, Constant):
        return [np.float32(node.value)]
    return []


def _check_channel(node, view):
    if node.n >= view.channels:
        raise ValueError(f"{node}: n={node.n} is out of range; layer '{view.name}' has {view.channels} "
                         f"channels: use n from 0 to {view.channels - 1}.")


def _position_index(node, view):
    """The flat index of ``(x, y)`` in the layer's grid (row-major); None = the centre."""
    grid = view.grid
    if not grid:
        if node.x is not None or node.y is not None:
            raise ValueError(f"{node}: layer '{view.name}' is dense (no positions): leave x and y out.")
        return 0
    if len(grid) == 1 and node.y is not None:
        raise ValueError(f"{node}: layer '{view.name}' has one position axis of length {grid[0]}: give "
                         "x only (y=None).")
    position = [size // 2 for size in grid]
    for name, value, axis in (("x", node.x, len(grid) - 1), ("y", node.y, len(grid) - 2)):
        if value is None or axis < 0:
            continue
        if value >= grid[axis]:
            raise ValueError(f"{node}: {name}={value} is outside layer '{view.name}''s output grid "
                             f"{' x '.join(map(str, grid))} (rows x columns): use {name} from 0 to "
                             f"{grid[axis] - 1}.")
        position[axis] = value
    return int(np.ravel_multi_index(position, grid))


class _Reader:
    """The step's view of the concatenated output: each layer's ``(B, positions, C)`` features
    and spatial mean, and each custom loss's value (sliced once per trace)."""

    def __init__(self, owner, output, groups):
        self.owner, self.groups = owner, groups
        self.features, self.losses = {}, {}
        start = 0
        for name in owner.layers:
            view = owner.views[name]
            width = view.positions * view.channels
            self.features[name] = ops.reshape(output[:, start:start + width], (-1, view.positions, view.channels))
            start += width
        for loss in owner.custom:
            self.losses[id(loss)] = output[:, start]
            start += 1
        self._means = {}

    def layer(self, node):
        return self.features[self.owner.resolved[node.layer]]

    def mean(self, node):
        name = self.owner.resolved[node.layer]
        if name not in self._means:
            self._means[name] = ops.mean(self.features[name], axis=1)
        return self._means[name]


def _value(node, data, reader, member):
    """(B,) the value of ``node``'s tree for every sample, its numbers read from ``data``."""
    if isinstance(node, (Channel, Direction)):
        return ops.sum(reader.mean(node) * next(data), axis=1)
    if isinstance(node, Neuron):
        index, vector = next(data), next(data)
        # Each sample's own position: (B, positions, C) -> (B, C).
        at = per_sample_take(reader.layer(node), ops.reshape(index, (-1, 1)), 1)[:, 0]
        return ops.sum(at * vector, axis=1)
    if isinstance(node, Diversity):
        return -gram_similarity(reader.layer(node), reader.groups)
    if isinstance(node, LossObjective):
        return -reader.losses[id(node.loss)]
    if isinstance(node, (Constant, Scaled)):
        value = next(data)
        return value if isinstance(node, Constant) else value * _value(node.term, data, reader, member)
    if isinstance(node, Sum):
        return functools.reduce(operator.add, [_value(term, data, reader, member) for term in node.terms])
    if isinstance(node, Product):
        return _value(node.a, data, reader, member) * _value(node.b, data, reader, member)
    if isinstance(node, Quotient):
        numerator = _value(node.a, data, reader, member)
        # Samples of other objectives divide by 1: their zeros must not make NaN gradients.
        return numerator / ops.where(member, _value(node.b, data, reader, member), 1.0)
    raise TypeError(f"{type(node).__name__} is not an objective this step knows.")
