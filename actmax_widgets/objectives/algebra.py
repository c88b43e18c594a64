"""Objectives as values: what each image maximizes, built from a few kinds and combined with
``+ - * /`` (as in Lucid and Lucent).

An objective is a small expression tree. Its leaves read one layer (``channel``, ``neuron``,
``direction``, ``diversity``) or are a keras-vis ``Loss`` or a number; its inner nodes add,
scale, multiply or divide. Nothing here touches TensorFlow: ``batched`` turns a list of these
trees into one compiled step, where each tree's numbers (channel, position, vector,
coefficients) are data, so another list of the same shape reuses the traced step.

Every objective is a *gain*: higher is better, the optimizer raises it (a keras-vis ``Loss`` is
minimized, so it enters as minus its value).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import arguments


class Objective:
    """Base of every objective: supports ``+ - * /`` with objectives and numbers, and unary ``-``.

    ``str(objective)`` is a readable label (the widget's tile captions, ``result.labels``).
    """

    def children(self):
        return ()

    def layers(self):
        """The layers this objective reads, in order of first use, without repeats."""
        seen = []
        for child in self.children():
            seen += [layer for layer in child.layers() if layer not in seen]
        return seen

    def structure(self):
        """What the compiled step depends on: the tree's shape and layers, not its numbers."""
        return (type(self).__name__,) + tuple(child.structure() for child in self.children())

    def signature(self):
        """The structure and the numbers: equal signatures are the same objective."""
        return (type(self).__name__,) + tuple(child.signature() for child in self.children())

    def nodes(self):
        """The tree in pre-order (the order the batched step reads its per-sample data in)."""
        out = [self]
        for child in self.children():
            out += child.nodes()
        return out

    def __add__(self, other):
        return Sum((self, as_objective(other, "+")))

    def __radd__(self, other):
        return Sum((as_objective(other, "+"), self))

    def __sub__(self, other):
        return Sum((self, -as_objective(other, "-")))

    def __rsub__(self, other):
        return Sum((as_objective(other, "-"), -self))

    def __neg__(self):
        return Scaled(-1.0, self)

    def __mul__(self, other):
        if _is_number(other):
            return Scaled(_finite(other, "*"), self)
        return Product(self, as_objective(other, "*"))

    def __rmul__(self, other):
        if _is_number(other):
            return Scaled(_finite(other, "*"), self)
        return Product(as_objective(other, "*"), self)

    def __truediv__(self, other):
        if _is_number(other):
            value = _finite(other, "/")
            if value == 0:
                raise ZeroDivisionError(f"{self} / 0: divide an objective by a non-zero number.")
            return Scaled(1.0 / value, self)
        return Quotient(self, as_objective(other, "/"))

    def __rtruediv__(self, other):
        return Quotient(as_objective(other, "/"), self)

    def __repr__(self):
        return f"<Objective {self}>"


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value, operator):
    return arguments.check_number(f"the number in an objective's {operator!r}", value)


def as_objective(value, operator="in objectives"):
    """``value`` as an Objective: an Objective, a number (a constant) or a keras-vis ``Loss``."""
    if isinstance(value, Objective):
        return value
    if _is_number(value):
        return Constant(_finite(value, operator))
    if callable(getattr(value, "build_loss", None)):
        return LossObjective(value)
    raise TypeError(f"{arguments.show(value)} ({type(value).__name__}) cannot be combined with an objective "
                    f"by {operator!r}: use an objective (objectives.channel, neuron, direction, diversity), "
                    "a keras-vis Loss or a number.")


class Leaf(Objective):
    """An objective that reads one layer; ``layer`` is a name or an index into ``model.layers``."""

    kind = ""

    def __init__(self, layer):
        self.layer = arguments.check_layer("layer", layer)

    def layers(self):
        return [self.layer]

    def structure(self):
        # ``channel`` and ``direction`` are both projections of the mean activation: one shape.
        return (self.kind, self.layer)


class Channel(Leaf):
    """The mean of channel ``n`` over the layer's positions (a dense unit's value)."""

    kind = "mean"

    def __init__(self, layer, n):
        super().__init__(layer)
        self.n = arguments.check_int("n", n, minimum=0, fix="pass a channel index >= 0, e.g. channel('conv2', 3)")

    def signature(self):
        return ("channel", self.layer, self.n)

    def __str__(self):
        return f"{layer_text(self.layer)}:{self.n}"


class Neuron(Leaf):
    """Channel ``n`` at one position ``(x, y)`` of the layer's output grid; ``None`` = the centre
    (``size // 2``, Lucid's choice for even sizes too)."""

    kind = "point"

    def __init__(self, layer, n, x=None, y=None):
        super().__init__(layer)
        self.n = arguments.check_int("n", n, minimum=0, fix="pass a channel index >= 0, e.g. neuron('conv2', 3)")
        fix = "pass a position >= 0 in the layer's output grid, or None for the centre"
        self.x = None if x is None else arguments.check_int("x", x, minimum=0, fix=fix)
        self.y = None if y is None else arguments.check_int("y", y, minimum=0, fix=fix)

    def signature(self):
        return ("neuron", self.layer, self.n, self.x, self.y)

    def __str__(self):
        if self.x is None and self.y is None:
            return f"{layer_text(self.layer)}:{self.n} @ centre"
        return f"{layer_text(self.layer)}:{self.n} @ ({_position(self.x)}, {_position(self.y)})"


def layer_text(layer):
    """A layer reference as a person reads it: its name (also for a layer object), or its index."""
    return str(getattr(layer, "name", layer))


def _position(value):
    return "centre" if value is None else str(value)


class Direction(Leaf):
    """The mean activation's projection on a unit vector in channel space."""

    kind = "mean"

    def __init__(self, layer, vector):
        super().__init__(layer)
        try:
            vector = np.asarray(vector, dtype="float64")
        except (TypeError, ValueError):
            raise TypeError(f"vector={arguments.show(vector)} is not a list of numbers: pass one number "
                            "per channel of the layer.") from None
        if vector.ndim != 1 or not vector.size:
            raise ValueError(f"vector has shape {vector.shape}: pass a flat list with one number per "
                             "channel of the layer.")
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(f"vector={arguments.show(vector.tolist())} has length {norm}: a direction "
                             "needs a finite, non-zero vector.")
        self.vector = (vector / norm).astype("float32")

    def signature(self):
        return ("direction", self.layer, self.vector.tobytes())

    def __str__(self):
        shown = ", ".join(f"{v:.2g}" for v in self.vector[:3]) + (", …" if self.vector.size > 3 else "")
        return f"direction({layer_text(self.layer)}, [{shown}])"


class Diversity(Leaf):
    """Minus the mean cosine similarity of this image's Gram matrix at ``layer`` with those of the
    other images of the same objective in the batch (Lucid's diversity penalty, as a gain)."""

    kind = "diversity"

    def signature(self):
        return ("diversity", self.layer)

    def __str__(self):
        return f"diversity({layer_text(self.layer)})"


class LossObjective(Objective):
    """A keras-vis ``Loss``: minus its ``build_loss()`` value, one value per sample."""

    def __init__(self, loss):
        self.loss = loss

    def structure(self):
        return ("loss", id(self.loss))

    def signature(self):
        # Stable from run to run (an id is not): the start image is keyed by it.
        settings = sorted((k, repr(v)) for k, v in vars(self.loss).items() if _plain(v))
        return ("loss", type(self.loss).__qualname__, str(self), tuple(settings))

    def __str__(self):
        return str(getattr(self.loss, "name", type(self.loss).__name__))


def _plain(value):
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, str, bool)) or value is None


class Constant(Objective):
    """A number: moves the value, not the image (its gradient is zero)."""

    def __init__(self, value):
        self.value = float(value)

    def structure(self):
        return ("constant",)

    def signature(self):
        return ("constant", self.value)

    def __str__(self):
        return _number(self.value)


def _number(value):
    return f"{value:g}"


class Scaled(Objective):
    """``factor * term``; the factor is per-sample data, so other factors do not retrace."""

    def __init__(self, factor, term):
        self.factor, self.term = float(factor), term

    def children(self):
        return (self.term,)

    def signature(self):
        return ("scaled", self.factor, self.term.signature())

    # A number times a scaled term scales the factor: ``-(0.25 * a)`` is ``-0.25 * a``.
    def __mul__(self, other):
        return Scaled(self.factor * _finite(other, "*"), self.term) if _is_number(other) else super().__mul__(other)

    __rmul__ = __mul__

    def __neg__(self):
        return Scaled(-self.factor, self.term)

    def __str__(self):
        if self.factor == -1:
            return f"-{_grouped(self.term, Scaled)}"
        return f"{_number(self.factor)} * {_grouped(self.term, Scaled)}"


class Sum(Objective):
    """The sum of its terms. ``label`` replaces the generated text (``interpolate``)."""

    def __init__(self, terms, label=None):
        self.terms = tuple(terms)
        self.label = label

    def children(self):
        return self.terms

    def __str__(self):
        if self.label is not None:
            return self.label
        text = str(self.terms[0])
        for term in self.terms[1:]:
            shown = str(term)
            text += f" - {shown[1:]}" if shown.startswith("-") else f" + {shown}"
        return text


class _Pair(Objective):
    """Two operand objectives ``a`` and ``b`` (the tree's binary nodes)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def children(self):
        return (self.a, self.b)


class Product(_Pair):
    """``a * b`` per sample (Lucid allows it; e.g. a channel gated by another)."""

    def __str__(self):
        return f"{_grouped(self.a, Sum)} * {_grouped(self.b, (Sum, Scaled))}"


class Quotient(_Pair):
    """``a / b`` per sample; ``b`` must stay away from zero on the images optimized."""

    def __str__(self):
        return f"{_grouped(self.a, Sum)} / {_grouped(self.b, (Sum, Scaled, Product, Quotient))}"


def _grouped(term, needs_brackets):
    return f"({term})" if isinstance(term, needs_brackets) else str(term)
