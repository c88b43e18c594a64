"""Fold inference-mode BatchNormalization into the convolution (or Dense layer) before it.

In inference, BatchNormalization is an affine map per channel, ``γ (x − μ) / √(σ² + ε) + β``,
so after a linear conv it can be absorbed into the conv's kernel and bias. The optimized image
then gets the same activations and gradients (up to float32 round-off) while each step skips a
multiply-add over every activation and its gradient: on EfficientNet-Lite0, whose expanded
activations are mostly BN traffic, that is about 1.4× faster (bench/RESULTS.md).

Only a BN whose one input is a conv with a linear activation and no other consumer is folded,
never into a layer whose own output is wanted (the visualized layer). A folded BN becomes an
identity layer of the same name, so layers are still found by name. Anything unusual (a custom
layer that cannot be rebuilt) leaves the model unfolded: folding only makes it faster.
"""
from __future__ import annotations

import keras
import numpy as np

from . import catalogue, model_cut

_FOLDABLE = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
             keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


class FoldedBatchNorm(keras.layers.Layer):
    """Where a folded BatchNormalization stood: passes its input through (accepting the
    ``training`` / ``mask`` arguments the graph calls BN with)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def _channel_axis(layer):
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def foldable_pairs(model, keep=()):
    """``{conv name: its BatchNormalization}`` for each BN that can be folded into its conv.

    ``keep``: names of layers whose output must stay as it is (their BN is not folded in).
    """
    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, keras.layers.BatchNormalization):
            continue
        conv = catalogue.producer_of(bn)
        if (not isinstance(conv, _FOLDABLE) or conv.name in keep or len(conv._inbound_nodes) != 1
                or len(conv._outbound_nodes) != 1
                or conv.activation is not keras.activations.linear):
            continue
        rank = len(bn.input.shape)
        conv_axis = rank - 1 if isinstance(conv, keras.layers.Dense) else _channel_axis(conv) % rank
        bn_axes = [bn.axis] if isinstance(bn.axis, int) else list(bn.axis)
        if [axis % rank for axis in bn_axes] != [conv_axis]:  # BN must scale the conv's channels
            continue
        pairs[conv.name] = bn
    return pairs


def _folded_weights(conv, bn):
    """The conv's ``[kernel, bias]`` with ``bn`` applied to its output."""
    mean = np.asarray(bn.moving_mean)
    variance = np.asarray(bn.moving_variance)
    gamma = np.asarray(bn.gamma) if bn.gamma is not None else np.ones_like(mean)
    beta = np.asarray(bn.beta) if bn.beta is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    weights = conv.get_weights()
    kernel = weights[0]
    bias = weights[1] if conv.use_bias else np.zeros_like(mean)
    if isinstance(conv, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        # (..., in_channels, multiplier): output channel c * multiplier + m
        kernel = kernel * scale.reshape(kernel.shape[-2:])
    else:
        kernel = kernel * scale  # the last axis is the output channel
    return [kernel.astype("float32"), ((bias - mean) * scale + beta).astype("float32")]


def fold_batchnorm(model, keep=()):
    """A copy of ``model`` with its foldable BatchNormalizations folded (see the module doc), or
    ``model`` itself when there is nothing to fold or it cannot be rebuilt."""
    pairs = foldable_pairs(model, keep)
    if not pairs:
        return model
    bn_names = {bn.name for bn in pairs.values()}

    def clone(layer):
        if layer.name in pairs:
            return model_cut.rebuild_layer(layer, use_bias=True)
        if layer.name in bn_names:
            return FoldedBatchNorm(name=layer.name)
        return model_cut.rebuild_layer(layer)

    try:
        folded = keras.models.clone_model(model, clone_function=clone)
    except (TypeError, ValueError, NotImplementedError):
        return model
    for layer in model.layers:
        if layer.name in bn_names or not layer.weights:
            continue
        weights = _folded_weights(layer, pairs[layer.name]) if layer.name in pairs else layer.get_weights()
        folded.get_layer(layer.name).set_weights(weights)
    return folded
