"""Objectives that compose, as in Lucid and Lucent: what each image maximizes.

::

    from actmax_widgets import objectives as obj, visualize_filters

    result = visualize_filters(model, objectives=[
        obj.channel("block4_conv1", 12),
        obj.neuron("block4_conv1", 12, x=3, y=5),
        obj.channel("block4_conv1", 12) - 0.5 * obj.channel("block4_conv1", 40),
        obj.interpolate(obj.channel("block4_conv1", 12), obj.channel("block5_conv1", 7), 0.5),
    ])

One image per objective, all optimized together in one compiled step; ``result.labels`` are
``str(objective)``. Every objective is a *gain* (the optimizer raises it); numbers and other
objectives combine with ``+ - * /``. ``layer`` is a name or an index into ``model.layers`` (a
layer inside a nested model by ``'<nested model>/<layer>'``). A keras-vis ``Loss`` instance can
stand in the list (or in an expression) too: its ``build_loss()`` must return one value per
sample, shape ``(batch,)``; it is minimized (it enters as minus its value). It reads the model's
own layers, so it runs at the model's input size without ``backprop_modifier``, precision
changes or ``uncap_relu6``.
"""
from __future__ import annotations

from .algebra import Objective, Sum, as_objective
from .algebra import Channel, Direction, Diversity, Neuron

__all__ = ["Objective", "as_objective", "channel", "direction", "diversity", "interpolate", "neuron"]


def channel(layer, n):
    """The mean activation of channel ``n`` of ``layer`` over its positions (a dense unit's value;
    a transformer's patch tokens, without the class token).

    ``direction(layer, one_hot(n))`` is the same objective.
    """
    return Channel(layer, n)


def neuron(layer, n, x=None, y=None):
    """Channel ``n`` of ``layer`` at one position: column ``x``, row ``y`` of the layer's output grid
    (for a transformer, of its patch grid); ``None`` is the centre (``size // 2``). A 1-D layer
    takes ``x`` only; a dense layer neither.
    """
    return Neuron(layer, n, x, y)


def direction(layer, vector):
    """The mean activation of ``layer`` projected on ``vector`` (one number per channel).

    A dot product with the unit vector ``vector / |vector|``, not a cosine: it is linear in the
    activation, so it grows as the feature grows (a cosine is satisfied by any image whose
    activation *points* the right way, however weak) and it adds up with ``channel``:
    ``direction(layer, one_hot(n))`` equals ``channel(layer, n)``, and both are one structure in
    the compiled step. The vector's length does not matter; scale the objective instead.
    """
    return Direction(layer, vector)


def diversity(layer):
    """Lucid's diversity, as a gain to *add*: minus the mean cosine similarity between this image's
    Gram matrix at ``layer`` (which channels fire together) and those of the other images of the
    same objective in the batch. List an objective several times and add it, e.g.
    ``[channel("conv4", 3) + 0.5 * diversity("conv4")] * 4``: the four copies are pushed
    towards different patterns. Alone in the batch, an image has no copies and it is 0.

    (Lucid and Lucent write ``channel - k * diversity``: there the sign convention differs.)
    """
    return Diversity(layer)


def interpolate(a, b, t):
    """``(1 - t) * a + t * b``: a batch of these for t in [0, 1] morphs one objective into the
    other (one structure for every ``t``, so the sweep runs in one compiled step)."""
    a, b = as_objective(a), as_objective(b)
    from .. import arguments

    t = arguments.check_number("t", t, fix="pass a number, usually from 0 (a) to 1 (b)")
    return Sum(((1.0 - t) * a, t * b), label=f"interpolate({a}, {b}, t={t:g})")
