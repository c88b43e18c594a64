"""Backprop modifiers: change how gradients flow back through ReLU-family activations.

``'guided'`` passes a gradient only where it is positive *and* the unit was active on the forward
pass (guided backpropagation); ``'rectified'`` (aliases ``'relu'``, ``'deconv'``) only where the
gradient is positive (the "deconvnet" rule). Both apply to ReLU and ReLU6, whether fused into a
layer (``Conv2D(..., activation='relu')``) or standing alone (``Activation('relu')``, ``ReLU()``).

A modifier takes a model and returns a new model with a copy of its weights (as keras-vis's
save-and-reload did); the original is not changed. A callable ``model -> model`` is accepted as a
modifier too.
"""
from __future__ import annotations

import keras
from keras import ops

from . import model_cut, model_facts, utils


def _gate(x, forward, active, use_forward_gate):
    """``forward(x)`` whose backward pass keeps only positive gradients (and, when
    ``use_forward_gate``, only where ``active(x)``: the unit passed a gradient forward)."""

    @ops.custom_gradient
    def fn(x):
        y = forward(x)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream  # TF/JAX: grad(dy); torch: grad(x, upstream=dy)
            keep = dy > 0
            if use_forward_gate:
                keep = ops.logical_and(keep, active(x))
            return ops.where(keep, dy, ops.zeros_like(dy))

        return y, grad

    return fn(x)


def _make(forward, active, use_forward_gate, name):
    def activation(x):
        return _gate(ops.convert_to_tensor(x), forward, active, use_forward_gate)

    activation.__name__ = name
    return activation


_RELU6 = (ops.relu6, lambda x: ops.logical_and(x > 0, x < 6))
_RELU = (ops.relu, lambda x: x > 0)

_REPLACEMENTS = {
    # (rule, activation kind) -> replacement activation
    ("guided", "relu"): _make(*_RELU, True, "guided_relu"),
    ("guided", "relu6"): _make(*_RELU6, True, "guided_relu6"),
    ("rectified", "relu"): _make(*_RELU, False, "rectified_relu"),
    ("rectified", "relu6"): _make(*_RELU6, False, "rectified_relu6"),
}


def _relu_kind(layer):
    """'relu', 'relu6' or None for what ReLU-family activation ``layer`` applies."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope != 0 or layer.threshold != 0:
            return None
        if layer.max_value is None:
            return "relu"
        return "relu6" if float(layer.max_value) == 6.0 else None
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return name if name in ("relu", "relu6") else None


def _modify(model, rule):
    def clone_function(layer):
        kind = _relu_kind(layer)
        if kind is not None and isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return keras.layers.Activation(_REPLACEMENTS[(rule, kind)], name=layer.name)
        overrides = {"activation": _REPLACEMENTS[(rule, kind)]} if kind is not None else {}
        # Every layer is rebuilt, not only the ReLU ones: a layer shared with the original model
        # would keep ``layer.output`` in the original graph, and the losses read it there.
        try:
            return model_cut.rebuild_layer(layer, **overrides)
        except (TypeError, ValueError, NotImplementedError):
            if kind is not None:
                raise
            return layer  # a custom layer its config cannot rebuild: shared as it is

    modified = keras.models.clone_model(model, clone_function=clone_function)
    modified.set_weights(model.get_weights())
    return model_facts.carry_names(model, modified)


def guided(model):
    """Guided backpropagation: gradients pass where positive and where the unit was active."""
    return _modify(model, "guided")


def rectified(model):
    """Deconvnet rule: gradients pass where positive, whatever the forward pass did."""
    return _modify(model, "rectified")


def _without_ceiling(activation):
    """The ReLU-family function like ``activation`` (a ReLU6, plain or gated) without the ceiling
    at 6, or None when ``activation`` is not a ReLU6."""
    if getattr(activation, "__name__", None) == "relu6":
        return keras.activations.relu
    for (rule, kind), replacement in _REPLACEMENTS.items():
        if kind == "relu6" and replacement is activation:
            return _REPLACEMENTS[(rule, "relu")]
    return None


def without_relu6_ceiling(model):
    """A copy of ``model`` (same weights) whose output layer, when it is a ReLU6 (a ``ReLU(6)``
    layer, ``Activation('relu6')`` or a fused ``activation='relu6'``), applies ReLU instead;
    ``model`` itself otherwise.

    Maximizing a ReLU6 channel stops once its units reach 6: the gradient vanishes and the image
    freezes, often blurry. Without the ceiling the optimization keeps strengthening what the
    channel responds to, as Lucid optimizes pre-ReLU tensors. Other layers keep their ReLU6.
    """
    output_layer = model.layers[-1]
    if isinstance(output_layer, keras.layers.ReLU):
        open_ceiling = keras.activations.relu if _relu_kind(output_layer) == "relu6" else None
    else:
        open_ceiling = _without_ceiling(getattr(output_layer, "activation", None))
    if open_ceiling is None:
        return model

    def clone_function(layer):
        if layer is not output_layer:
            return model_cut.rebuild_layer(layer)  # fresh layers: the clone's graph is its own
        if isinstance(layer, keras.layers.ReLU):
            return keras.layers.Activation(open_ceiling, name=layer.name)
        return model_cut.rebuild_layer(layer, activation=open_ceiling)

    try:
        return model_cut.clone_with_weights(model, clone_function)
    except (TypeError, ValueError, NotImplementedError):
        return model  # a custom layer that cannot be rebuilt: keep the ceiling


_BY_NAME = {"guided": guided, "rectified": rectified, "relu": rectified, "deconv": rectified}

NAMES = ("guided", "rectified")


def get(identifier):
    """The modifier for a name, a callable ``model -> model``, or ``None``."""
    return utils.lookup(_BY_NAME, identifier, "backprop_modifier",
                        "'guided', 'rectified' (aliases 'relu', 'deconv'), a callable model -> model, or None")
