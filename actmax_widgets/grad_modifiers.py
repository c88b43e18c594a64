"""Gradient modifiers: functions applied to the input gradient before each update.

Pick one by name (``grad_modifier='negate'``) or pass any callable on a tensor. ``'negate'`` turns
maximization into minimization (e.g. to *decrease* a regression output).
"""
from __future__ import annotations

from keras import ops

from . import utils

_EPSILON = 1e-7


def negate(grads):
    """Flip the sign: the optimizer now maximizes the loss (e.g. lowers an activation)."""
    return -grads


def absolute(grads):
    """Absolute value of the gradient."""
    return ops.abs(grads)


def invert(grads):
    """``1 / (grads + ε)``: large where the gradient is small."""
    return 1.0 / (grads + _EPSILON)


def relu(grads):
    """Keep only the positive part of the gradient."""
    return ops.relu(grads)


def small_values(grads):
    """``|1 / (grads + ε)|``: emphasises the input values with small influence."""
    return ops.abs(invert(grads))


_BY_NAME = {"negate": negate, "absolute": absolute, "invert": invert, "relu": relu,
            "small_values": small_values}

NAMES = tuple(_BY_NAME)


def get(identifier):
    """The modifier for a name, a callable, or ``None`` (no modification)."""
    return utils.lookup(_BY_NAME, identifier, "grad_modifier", f"one of {', '.join(NAMES)}, a callable or None")
