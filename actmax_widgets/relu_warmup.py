"""ReLU warm-up: let gradients through inactive ReLUs for the first steps (Lucid's "redirected" ReLU).

A channel that is zero everywhere on the starting image (common deep in a network, where a grey
start image activates almost nothing) has a zero gradient: plain optimization never moves it
and its image stays grey. For the first steps of a run, a redirected ReLU (or ReLU6) passes the
gradient of a unit that is off (or saturated) whenever that gradient would turn it back on, in
the layers (and samples) where no true gradient gets through; after the warm-up the network's
true gradient takes over. ``visualize_filters(...,
relu_warmup=48)`` uses it; ``bench/QUALITY.md`` measures it.

Whether a step warms up is a boolean tensor *of that step* (``step < warm-up length``, computed
in the compiled step), handed to the redirected activations while the step is traced
(``warming_up``), and passed into their custom gradient as an input. There is no global switch,
so runs in several threads (a widget and a script) never change each other's gradients. Outside
a step (a plain gradient of the model) the true gradient is used.
"""
from __future__ import annotations

import contextlib
import threading
import weakref

from keras import ops

from . import backprop_modifiers

_MODELS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_TRACING = threading.local()  # the warm-up flag of the step being traced in this thread


@contextlib.contextmanager
def warming_up(flag):
    """Redirected activations called inside this block use ``flag`` (a scalar boolean tensor of
    the step being traced) to decide whether to redirect their gradient."""
    previous = getattr(_TRACING, "flag", None)
    _TRACING.flag = flag
    try:
        yield
    finally:
        _TRACING.flag = previous


def _current_flag():
    """The warm-up flag as a float32 scalar tensor (1: warming up), read when the activation is
    called. It enters the custom gradient as an input: JAX refuses a custom gradient that closes
    over a tensor traced outside it (the step's flag), and a float input has a plain zero
    gradient on every backend (a boolean one would need JAX's float0)."""
    flag = getattr(_TRACING, "flag", None)
    return ops.convert_to_tensor(0.0 if flag is None else ops.cast(flag, "float32"), "float32")


def _redirected_grad(x, flag, dy, low, high):
    """The gradient of a redirected activation at ``x`` for the upstream gradient ``dy``.

    For a sample whose true gradient through this layer is zero everywhere, a gradient that
    would raise a unit at its floor (``x <= low``), or lower one at its ceiling, passes (when
    ``flag`` > 0); samples with any true gradient keep it unchanged.
    """
    # dy is d(what is maximized)/d(output): > 0 means "raise this unit".
    inside = x > low if high is None else ops.logical_and(x > low, x < high)
    revive = ops.logical_and(x <= low, dy > 0)
    if high is not None:
        revive = ops.logical_or(revive, ops.logical_and(x >= high, dy < 0))
    zeros = ops.zeros_like(dy)
    true_grad = ops.where(inside, dy, zeros)
    redirected_grad = ops.where(ops.logical_or(inside, revive), dy, zeros)
    axes = list(range(1, len(dy.shape)))
    stuck = ops.max(ops.abs(true_grad), axis=axes, keepdims=True) <= 0.0
    use = ops.logical_and(stuck, flag > 0)
    return ops.where(use, redirected_grad, true_grad)


def _redirected(forward, low, high, name):
    """``forward`` with Lucid's redirected gradient in warm-up steps (``_redirected_grad``)."""

    @ops.custom_gradient
    def fn(x, flag):
        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream  # TF/JAX: grad(dy); torch: grad(*inputs, upstream=dy)
            return _redirected_grad(x, flag, dy, low, high), ops.zeros_like(flag)

        return forward(x), grad

    def activation(x):
        return fn(ops.convert_to_tensor(x), _current_flag())

    activation.__name__ = name
    return activation


backprop_modifiers._REPLACEMENTS[("redirected", "relu")] = _redirected(ops.relu, 0.0, None, "redirected_relu")
backprop_modifiers._REPLACEMENTS[("redirected", "relu6")] = _redirected(ops.relu6, 0.0, 6.0, "redirected_relu6")


def redirected(model):
    """A copy of ``model`` (same weights, cached) whose ReLU / ReLU6 activations are redirected
    in warm-up steps (``warming_up``)."""
    with _LOCK:
        if model not in _MODELS:
            _MODELS[model] = backprop_modifiers._modify(model, "redirected")
        return _MODELS[model]
