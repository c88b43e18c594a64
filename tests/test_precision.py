"""Reduced precision: the model computes in bfloat16, the image and its gradient stay float32."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from actmax_widgets import model_cut, visualize_filters


@pytest.fixture(scope="module")
def relu_net():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    return keras.Model(inputs, x)


def test_bfloat16_copy_computes_in_bfloat16_with_float32_input_and_weights(relu_net):
    reduced = model_cut.with_precision(relu_net, "bfloat16")
    assert reduced.get_layer("conv_b").compute_dtype == "bfloat16"
    assert reduced.get_layer("conv_b").kernel.dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    full, half = np.asarray(relu_net(x)), np.asarray(reduced(x)).astype("float32")
    assert np.allclose(full, half, atol=0.05 * np.abs(full).max())
    assert model_cut.with_precision(relu_net, "float32") is relu_net
    with pytest.raises(ValueError, match="float32, bfloat16, float16"):
        model_cut.with_precision(relu_net, "int8")


def test_bfloat16_run_raises_the_activation_like_float32(relu_net):
    options = dict(max_iter=15, seed=1, tv_weight=0, lp_norm_weight=0)
    full = visualize_filters(relu_net, "conv_b", [0, 1, 2], **options)
    half = visualize_filters(relu_net, "conv_b", [0, 1, 2], precision="bfloat16", **options)
    assert half.raw_images.dtype == np.float32
    rise_full = full.activation_history[-1] - full.activation_history[0]
    rise_half = half.activation_history[-1] - half.activation_history[0]
    assert np.all(rise_half > 0) and np.all(rise_half > 0.5 * rise_full)
