"""Useful FLOPs of an optimization step, counted from a Keras model's layers (any backend: no
TensorFlow here, so ``gpu_bench.py`` and ``backends.py`` count the same way as the CPU jobs)."""
from __future__ import annotations

import keras


def conv_flops(model, layer_name, target_channels=None):
    """Forward FLOPs per image of ``model`` cut at ``layer_name`` (convs, depthwise convs, dense).

    A multiply-add counts 2. Conv: 2·Ho·Wo·kh·kw·Cin·Cout/groups; depthwise: 2·Ho·Wo·kh·kw·Cin·m;
    dense: 2·in·out. Element-wise layers (BN, ReLU, pooling, add) are left out: < 1 % here.
    ``target_channels``: the visualized conv / dense layer computes only that many of its
    outputs (the core's target head), not all of them.
    """
    cut = keras.Model(model.inputs, model.get_layer(layer_name).output)
    total = 0
    for layer in cut.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = layer.output.shape
        cin = layer.input.shape[-1]
        outputs = layer.units if kind == "Dense" else getattr(layer, "filters", None)
        if target_channels is not None and layer.name == layer_name and outputs:
            share = min(target_channels, outputs) / outputs
        else:
            share = 1.0
        if kind == "Dense":
            total += 2 * cin * layer.units * share
            continue
        kh, kw = layer.kernel_size
        positions = out[1] * out[2]
        if kind == "DepthwiseConv2D":
            total += 2 * positions * kh * kw * cin * layer.depth_multiplier
        else:
            total += 2 * positions * kh * kw * cin * layer.filters // getattr(layer, "groups", 1) * share
    return int(total)


def step_flops(model, layer_name, target_channels=None):
    """Useful FLOPs of one optimization step per image: forward + the gradient w.r.t. the input.

    The input gradient needs every conv's *data* gradient (a transposed conv with the same
    multiply-adds as the forward one, the first conv included since the input is what we
    differentiate); no weight gradients. So ≈ 2 × forward. Work a library does beyond that
    (e.g. weight gradients computed and thrown away) does not count. ``target_channels``: as
    ``conv_flops``.
    """
    return 2 * conv_flops(model, layer_name, target_channels)
