"""Compute only the target channels of the visualized layer.

A batch that visualizes 16 of the 256 filters of a convolution needs 16 of its output channels:
the other 240 are computed, and their gradients propagated, for nothing. When the visualized
layer is a convolution or Dense layer followed only by per-channel layers (its activation,
BatchNormalization, a folded BN, an element-wise activation), its output channels are
independent of each other, so the step can compute just the targeted ones: the kernel's columns
for those channels are gathered inside the compiled step (which channels is data, so other
filters never retrace). On VGG16 ``block3_conv3`` that removes the last layer's forward and
backward work for all but the targeted channels (bench/RESULTS.md).

``find(cut_model)`` returns a ``TargetHead`` or None when the layer does not qualify; the
``TargetChannelActivations`` loss then gives the engine the layer's input ("trunk") and the
head to finish the computation.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import catalogue
from .batchnorm_folding import FoldedBatchNorm
from .losses import ChannelActivations, _reduce_spatial

# Activations that act on each value alone (so on each channel alone); softmax is not one. The
# gated ReLUs of backprop modifiers and of the warm-up are element-wise too.
_ELEMENTWISE = {"linear", "relu", "relu6", "sigmoid", "tanh", "elu", "selu", "gelu", "silu", "swish",
                "softplus", "softsign", "hard_sigmoid", "hard_silu", "hard_swish", "leaky_relu",
                "exponential", "mish", "guided_relu", "guided_relu6", "rectified_relu", "rectified_relu6",
                "redirected_relu", "redirected_relu6"}
_MIXING = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def _elementwise(activation):
    return getattr(activation, "__name__", None) in _ELEMENTWISE


def _per_channel(layer):
    """Whether ``layer`` (channels-last) maps each channel on its own."""
    if isinstance(layer, FoldedBatchNorm):
        return True
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, len(layer.input.shape) - 1)
    if isinstance(layer, keras.layers.ReLU):
        return True
    if isinstance(layer, keras.layers.Activation):
        return _elementwise(layer.activation)
    return False


class TargetHead:
    """The visualized layer's last steps, for a chosen set of channels.

    ``mixing`` is the convolution / Dense layer whose input (``trunk``) the rest of the model
    computes in full; ``per_channel`` the layers after it, in order.
    """

    def __init__(self, mixing, per_channel):
        self.mixing = mixing
        self.per_channel = per_channel
        self.trunk = mixing.input
        self.n_channels = int(mixing.kernel.shape[-1])

    def __call__(self, trunk, channels):
        """The layer's output for ``channels`` (int32 (K,)): ``(B, ..., K)``."""
        layer = self.mixing
        # The layer's own compute dtype, as the layer would: the trunk may be the float32 input
        # of a model rebuilt in bfloat16 (precision), whose first convolution computes in bfloat16.
        dtype = layer.compute_dtype
        trunk = ops.cast(trunk, dtype)
        kernel = ops.cast(ops.take(layer.kernel, channels, axis=-1), dtype)
        if isinstance(layer, keras.layers.Dense):
            out = ops.tensordot(trunk, kernel, axes=[[len(trunk.shape) - 1], [0]])
        else:
            out = keras.ops.conv(trunk, kernel, strides=layer.strides, padding=layer.padding,
                                 data_format="channels_last", dilation_rate=layer.dilation_rate)
        if layer.use_bias:
            out = out + ops.cast(ops.take(layer.bias, channels), dtype)
        out = layer.activation(out)
        for step in self.per_channel:
            if isinstance(step, keras.layers.BatchNormalization):
                out = _batchnorm(step, out, channels)
            elif not isinstance(step, FoldedBatchNorm):
                out = step(out)  # an element-wise activation: any number of channels
        return out


def _batchnorm(layer, x, channels):
    """Inference BatchNormalization of the gathered ``channels``."""
    def gathered(weight, default):
        return default if weight is None else ops.cast(ops.take(weight, channels), x.dtype)

    mean, variance = gathered(layer.moving_mean, None), gathered(layer.moving_variance, None)
    gamma, beta = gathered(layer.gamma, 1.0), gathered(layer.beta, 0.0)
    return (x - mean) * (gamma * ops.rsqrt(variance + layer.epsilon)) + beta


def find(cut_model):
    """The ``TargetHead`` of ``cut_model``'s output layer, or None when its channels cannot be
    computed apart (channels-first, grouped convolutions, softmax, a residual add, ...)."""
    if len(cut_model.inputs[0].shape) == 4 and len(cut_model.outputs[0].shape) == 3:
        return None  # a transformer's tokens: the channel is a mean over patch tokens only (losses)
    chain = []
    layer = cut_model.layers[-1]
    while layer is not None and not isinstance(layer, _MIXING):
        if not _per_channel(layer) or len(layer._inbound_nodes) != 1:
            return None
        chain.append(layer)
        layer = catalogue.producer_of(layer)
    if layer is None or len(layer._inbound_nodes) != 1 or not _elementwise(layer.activation):
        return None
    if not isinstance(layer, keras.layers.Dense):
        if layer.data_format != "channels_last" or layer.groups != 1 or layer.padding not in ("valid", "same"):
            return None
    elif len(layer.input.shape) != 2:
        return None
    return TargetHead(layer, list(reversed(chain)))


def head_channels(masks, width):
    """The channels a batch computes: int32 ``(width,)`` holding every channel a mask row uses,
    padded with channels no row uses (they cost a little and count for nothing). When more than
    ``width`` channels are used (joint targets), all ``-1``: compute every channel. The width
    stays the same either way, so the compiled step is not traced again."""
    used = np.flatnonzero(np.any(masks != 0, axis=0))
    if len(used) > width:
        return np.full(width, -1, np.int32)
    unused = np.setdiff1d(np.arange(masks.shape[1]), used)[:width - len(used)]
    return np.concatenate([used, unused]).astype(np.int32)


class TargetChannelActivations(ChannelActivations):
    """``ChannelActivations`` computed through a ``TargetHead``: ``build_loss`` gives the head's
    input, and the engine calls ``activations(trunk, channels)`` for the chosen channels."""

    def __init__(self, head, reduction="mean"):
        super().__init__(head.mixing, channel_axis=-1, reduction=reduction)
        self.head = head
        self.n_channels = head.n_channels  # of the visualized layer (the masks' width)

    def build_loss(self):
        return self.head.trunk

    def activations(self, trunk, channels):
        """``(B, K)``: each chosen channel reduced over positions."""
        out = self.head(trunk, channels)
        return _reduce_spatial(out, len(out.shape) - 1, self.reduction)

    def weighted_sum(self, trunk, channels, masks):
        """``(B,)``: the activations weighted by the target ``masks`` ``(B, n_channels)``, from the
        ``channels`` of ``head_channels`` (all of them when it says so)."""
        # The condition chooses between two (B,) sums, not between two index lists: the lists
        # differ in length, and JAX's cond needs branches of one shape.
        def weighted(chosen):
            activations = ops.cast(self.activations(trunk, chosen), "float32")
            return ops.sum(activations * ops.take(masks, chosen, axis=1), axis=1)

        every = ops.arange(self.n_channels, dtype=channels.dtype)
        return ops.cond(channels[0] < 0, lambda: weighted(every), lambda: weighted(channels))
