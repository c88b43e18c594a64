"""ReLU warm-up: let gradients through inactive ReLUs for the first steps (Lucid's "redirected" ReLU).

A channel that is zero everywhere on the starting image (common deep in a network, where a grey
start image activates almost nothing) has a zero gradient: plain optimization never moves it
and its image stays grey. For the first steps of a run, a redirected ReLU (or ReLU6) passes the
gradient of a unit that is off (or saturated) whenever that gradient would turn it back on, in
the layers (and samples) where no true gradient gets through; after the warm-up the network's
true gradient takes over. ``visualize_filters(...,
relu_warmup=48)`` uses it; ``bench/QUALITY.md`` measures it.

All warmed-up models share one switch, so two warm-up runs must not overlap in time.
"""
from __future__ import annotations

import threading
import weakref

import tensorflow as tf

from . import backprop_modifiers

_SWITCH = {}
_MODELS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _switch():
    if "on" not in _SWITCH:
        _SWITCH["on"] = tf.Variable(1.0, trainable=False, name="relu_warmup")
    return _SWITCH["on"]


def set_active(active: bool):
    """Turn the redirection on (warm-up steps) or off (the true gradient)."""
    _switch().assign(1.0 if active else 0.0)


def _redirected(forward, low, high, name):
    """``forward`` with Lucid's redirected gradient while the switch is on.

    For a sample whose true gradient through this layer is zero everywhere, a gradient that
    would raise a unit at its floor (``x <= low``), or lower one at its ceiling, passes; samples
    with any true gradient keep it unchanged.
    """
    def activation(x):
        x = tf.convert_to_tensor(x)
        switch = _switch()

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
                use = tf.logical_and(stuck, switch > 0.5)
                return tf.where(use, redirected_grad, true_grad)

            return forward(x), grad

        return fn(x)

    activation.__name__ = name
    return activation


backprop_modifiers._REPLACEMENTS[("redirected", "relu")] = _redirected(tf.nn.relu, 0.0, None, "redirected_relu")
backprop_modifiers._REPLACEMENTS[("redirected", "relu6")] = _redirected(tf.nn.relu6, 0.0, 6.0, "redirected_relu6")


def redirected(model):
    """A copy of ``model`` (same weights, cached) whose ReLU / ReLU6 activations are redirected
    while the warm-up switch is on."""
    with _LOCK:
        if model not in _MODELS:
            _MODELS[model] = backprop_modifiers._modify(model, "redirected")
        return _MODELS[model]
