"""Candidate core speed-ups, built here from the core's public pieces so they can be measured
without touching the core. Each computes the same thing as the core (checked in the job).
The core's regularizers have since taken in ``FastTotalVariation`` / ``FastLPNorm`` (§7 keeps
them as a check, ≈ 1.00×); ``fold_batchnorm`` is still a candidate.

- ``FastTotalVariation``: keras-vis's TV with neighbour differences by ``roll`` and a constant
  mask instead of strided slices (whose gradient, ``StridedSliceGrad``, is slow on CPU), and no
  ``pow`` when β = 2 (the core raises to the power 1.0, a full-image ``Pow`` and its gradient).
- ``FastLPNorm``: the p-norm with an integer ``p`` by repeated multiplication, not ``pow``.
- ``fold_batchnorm``: BatchNormalization (inference) folded into the preceding conv's kernel and
  bias, so the step skips a multiply-add over every expanded activation and its gradient.
- ``compiled_with``: the optimizer ``visualization.compiled_for`` builds, with these swapped in.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from actmax_widgets import catalogue, model_cut, parameterizations
from actmax_widgets.engine import CompiledOptimizer, Problem
from actmax_widgets.losses import ChannelActivations, Loss
from actmax_widgets.regularizers import LPNorm, TotalVariation


class FastTotalVariation(Loss):
    """``TotalVariation(img, beta)`` for channels-last images, same value, cheaper gradient."""

    def __init__(self, img_input, beta=2.0):
        self.name = f"TV({beta}) Loss"
        self.img = img_input
        self.beta = beta

    def build_loss(self):
        img = self.img
        rank = len(img.shape)
        spatial = list(range(1, rank - 1))
        dims = [int(img.shape[a]) for a in spatial]
        # 1 where every spatial index is below its last: the pixels the core's cropped slices keep.
        valid = np.ones(dims, "float32")
        for k in range(len(dims)):
            index = [slice(None)] * len(dims)
            index[k] = -1
            valid[tuple(index)] = 0.0
        valid = ops.convert_to_tensor(valid[None, ..., None])
        tv = None
        for axis in spatial:
            diff = ops.roll(img, shift=-1, axis=axis) - img
            tv = ops.square(diff) if tv is None else tv + ops.square(diff)
        tv = tv * valid
        if self.beta != 2.0:
            tv = ops.power(tv + 1e-12, self.beta / 2.0) * valid
        return ops.sum(tv, axis=list(range(1, rank))) / math.prod(int(d) for d in img.shape[1:])


class FastLPNorm(Loss):
    """``LPNorm(img, p)`` for an integer ``p``: ``x^p`` by products, same scaling as the core."""

    def __init__(self, img_input, p=6.0):
        if p < 1 or p != int(p):
            raise ValueError("FastLPNorm takes an integer p >= 1.")
        self.name = f"L-{p} Norm Loss"
        self.img = img_input
        self.p = int(p)

    def build_loss(self):
        img = self.img
        axes = list(range(1, len(img.shape)))
        scale = ops.stop_gradient(ops.max(ops.abs(img), axis=axes, keepdims=True)) + 1e-12
        scaled = img / scale
        if self.p % 2:
            scaled = ops.abs(scaled)
        power, base = None, scaled
        p = self.p
        while p:  # square-and-multiply
            if p & 1:
                power = base if power is None else power * base
            p >>= 1
            if p:
                base = base * base
        value = ops.power(ops.sum(power, axis=axes), 1.0 / self.p) * ops.reshape(scale, (-1,))
        return value / math.prod(int(d) for d in img.shape[1:])


class _FoldedBatchNorm(keras.layers.Layer):
    """Stands where a folded BatchNormalization was: passes its input through (and accepts the
    ``training``/``mask`` arguments the graph calls BN with)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def fold_batchnorm(model):
    """A copy of ``model`` with each BatchNormalization that directly follows a conv folded into it
    (inference mode: ``γ (x − μ) / √(σ² + ε) + β`` is affine per channel). Layer names are kept;
    a folded BN becomes an identity layer of the same name."""
    fold = {}  # conv name -> its BN
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        node = layer._inbound_nodes[0]
        parents = [t._keras_history.operation for t in node.input_tensors]
        if len(parents) == 1 and isinstance(parents[0], (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            conv = parents[0]
            if len(conv._outbound_nodes) == 1:
                fold[conv.name] = layer
    bn_names = {bn.name for bn in fold.values()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in fold:
            config["use_bias"] = True
            return layer.__class__.from_config(config)
        if layer.name in bn_names:
            return _FoldedBatchNorm(name=layer.name)
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in bn_names or not layer.weights:
            continue
        if layer.name not in fold:
            folded.get_layer(layer.name).set_weights(layer.get_weights())
            continue
        bn = fold[layer.name]
        gamma, beta, mean, var = [w.numpy() for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)]
        scale = gamma / np.sqrt(var + bn.epsilon)
        weights = layer.get_weights()
        kernel = weights[0]
        bias = weights[1] if len(weights) > 1 else np.zeros_like(mean)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = kernel.shape
            kernel = kernel * scale.reshape(1, 1, cin, mult)
        else:
            kernel = kernel * scale.reshape(1, 1, 1, -1)
        folded.get_layer(layer.name).set_weights([kernel, (bias - mean) * scale + beta])
    return folded


def compiled_with(model, layer, *, fast_regularizers=False, jit_compile=False, image_size=None):
    """``compiled_for``'s optimizer (keras-vis defaults, pixel parameterization, no modifiers),
    optionally with ``FastLPNorm`` and ``FastTotalVariation``. Returns ``(compiled, info)``."""
    info = catalogue.describe_layer(model, layer)
    size = model_cut.resolve_image_size(model, image_size)
    cut, info = model_cut.cut_at(model, info.name, size)
    image = cut.inputs[0]
    lp = FastLPNorm(image) if fast_regularizers else LPNorm(image)
    tv = FastTotalVariation(image) if fast_regularizers else TotalVariation(image, channel_axis=-1)
    losses = [(ChannelActivations(cut.layers[-1], channel_axis=info.channel_axis), 1.0), (lp, 10.0), (tv, 10.0)]
    problem = Problem(image, losses)
    return CompiledOptimizer(problem, parameterizations.get(None), [], None, True, jit_compile=jit_compile), info


def regularizer_agreement(size=32, seed=0):
    """Largest relative difference between the core's and the fast regularizers' values and
    gradients on random images (should be float32 round-off)."""
    image = keras.Input((size, size, 3))
    pairs = [(LPNorm(image), FastLPNorm(image)), (TotalVariation(image, channel_axis=-1), FastTotalVariation(image))]
    x = tf.Variable(tf.random.stateless_uniform((4, size, size, 3), (seed, 1), 0, 255))
    worst = 0.0
    for core, fast in pairs:
        both = keras.Model(image, [core.build_loss(), fast.build_loss()])
        with tf.GradientTape(persistent=True) as tape:
            a, b = both(x)
            sa, sb = tf.reduce_sum(a), tf.reduce_sum(b)
        ga, gb = tape.gradient(sa, x), tape.gradient(sb, x)
        worst = max(worst, float(tf.reduce_max(tf.abs(a - b) / (tf.abs(a) + 1e-12))),
                    float(tf.reduce_max(tf.abs(ga - gb)) / (tf.reduce_max(tf.abs(ga)) + 1e-12)))
    return worst
