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
(``warming_up``). There is no global switch, so runs in several threads (a widget and a script)
never change each other's gradients. Outside a step (a plain ``tape.gradient`` on the model) the
true gradient is used.
"""
from __future__ import annotations

import contextlib
import threading
import weakref

import tensorflow as tf

from . import backprop_modifiers

_MODELS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_TRACING = threading.local()  # the warm-up flag of the step being traced in this thread


@contextlib.contextmanager
def warming_up(flag):
    """Redirected activations whose gradient is built inside this block use ``flag`` (a scalar
    boolean tensor of the step being traced) to decide whether to redirect."""
    previous = getattr(_TRACING, "flag", None)
    _TRACING.flag = flag
    try:
        yield
    finally:
        _TRACING.flag = previous


def _current_flag():
    flag = getattr(_TRACING, "flag", None)
    return tf.constant(False) if flag is None else flag


def _redirected(forward, low, high, name):
    """``forward`` with Lucid's redirected gradient in warm-up steps.

    For a sample whose true gradient through this layer is zero everywhere, a gradient that
    would raise a unit at its floor (``x <= low``), or lower one at its ceiling, passes; samples
    with any true gradient keep it unchanged.
    """
    def activation(x):
        x = tf.convert_to_tensor(x)

        @tf.custom_gradient
        def fn(x):
            def grad(dy):
                # dy is d(what is maximized)/d(output): > 0 means "raise this unit".
                inside = x > low if high is None else tf.logical_and(x > low, x < high)
                revive = tf.logical_and(x <= low, dy > 0)
                if high is not None:
                    revive = tf.logical_or(revive, tf.logical_and(x >= high, dy < 0))
                zeros = tf.zeros_like(dy)
                true_grad = tf.where(inside, dy, zeros)
                redirected_grad = tf.where(tf.logical_or(inside, revive), dy, zeros)
                axes = list(range(1, len(dy.shape)))
                stuck = tf.reduce_max(tf.abs(true_grad), axis=axes, keepdims=True) <= 0.0
                use = tf.logical_and(stuck, _current_flag())
                return tf.where(use, redirected_grad, true_grad)

            return forward(x), grad

        return fn(x)

    activation.__name__ = name
    return activation


backprop_modifiers._REPLACEMENTS[("redirected", "relu")] = _redirected(tf.nn.relu, 0.0, None, "redirected_relu")
backprop_modifiers._REPLACEMENTS[("redirected", "relu6")] = _redirected(tf.nn.relu6, 0.0, 6.0, "redirected_relu6")


def redirected(model):
    """A copy of ``model`` (same weights, cached) whose ReLU / ReLU6 activations are redirected
    in warm-up steps (``warming_up``)."""
    with _LOCK:
        if model not in _MODELS:
            _MODELS[model] = backprop_modifiers._modify(model, "redirected")
        return _MODELS[model]
