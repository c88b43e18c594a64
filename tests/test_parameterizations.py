"""Image parameterizations: FourierImage's range, shapes, determinism and gradients; styles."""
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import parameterizations, styles
from actmax_widgets.parameterizations import FourierImage, PixelImage, spectrum_scale
from actmax_widgets.sample_random import sample_keys
from actmax_widgets.visualization import visualize_filters
from core_helpers import channel_means
import ops_backend_checks


@pytest.mark.parametrize("shape", [(32, 32, 3), (24, 37, 3), (19, 16, 1)])
@pytest.mark.parametrize("input_range", [(0, 255), (-1.0, 1.0)])
def test_fourier_image_shape_and_range(shape, input_range):
    fourier = FourierImage()
    params = fourier.init_params(sample_keys(0, [0, 1]), shape, input_range)
    images = fourier.to_image(params).numpy()
    assert images.shape == (2,) + shape
    # Even far from the start (large coefficients) the sigmoid keeps every pixel in range.
    wild = fourier.to_image(params * 3000.0).numpy()
    for batch in (images, wild):
        assert batch.min() >= input_range[0] and batch.max() <= input_range[1]
    assert wild.std() > 10 * images.std()


def test_fourier_starts_near_uniform_grey():
    fourier = FourierImage()
    images = fourier.to_image(fourier.init_params(sample_keys(0, [3]), (32, 32, 3), (0, 255))).numpy()
    assert abs(images.mean() - 127.5) < 2.0 and images.std() < 3.0


def test_fourier_init_is_deterministic_per_key():
    fourier = FourierImage()
    first = fourier.init_params(sample_keys(7, [0, 1, 2]), (16, 16, 3), (0, 255))
    again = fourier.init_params(sample_keys(7, [2, 1]), (16, 16, 3), (0, 255))
    np.testing.assert_array_equal(first[2], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], first[1])


def test_fourier_gradient_reaches_every_frequency_and_colour():
    fourier = FourierImage()
    params = tf.Variable(fourier.init_params(sample_keys(0, [0]), (16, 20, 3), (0, 255)))
    with tf.GradientTape() as tape:
        images = fourier.to_image(params)
        loss = tf.reduce_sum(images * tf.random.stateless_normal(images.shape, [1, 2]))
    grads = tape.gradient(loss, params).numpy()
    assert np.all(np.isfinite(grads))
    assert np.abs(grads).sum(axis=(0, 1, 3, 4)).min() > 0  # every colour channel
    assert np.abs(grads[0, 0]).mean(axis=0).min() > 0  # every real coefficient


def test_spectrum_scale_weights_low_frequencies_most():
    scale = spectrum_scale(32, 32, decay=1.0)
    assert scale.shape == (32, 17)
    assert scale[0, 0] == scale.max() and scale[16, 16] == scale.min()
    steeper = spectrum_scale(32, 32, decay=1.5)
    assert steeper[16, 16] / steeper[0, 0] < scale[16, 16] / scale[0, 0]


def test_fourier_display_is_linear_uint8():
    image = np.array([[[0.0, 127.5, 255.0]]], "float32")
    shown = FourierImage().display(image, (0, 255))
    assert shown.dtype == np.uint8 and shown.tolist() == [[[0, 128, 255]]]
    np.testing.assert_array_equal(FourierImage().display(image / 127.5 - 1.0, (-1.0, 1.0)), shown)


def test_registry_names():
    assert isinstance(parameterizations.get("fourier"), FourierImage)
    assert isinstance(parameterizations.get(None), PixelImage)
    with pytest.raises(ValueError, match="fourier"):
        parameterizations.get("spectral?")


def test_fourier_run_raises_the_target_activation(conv_net):
    result = visualize_filters(conv_net, "conv2", [1, 5], max_iter=40, seed=0, param="fourier",
                               lp_norm_weight=0, tv_weight=0,
                               optimizer_settings={"optimizer": "adam", "learning_rate": 0.05})
    grey = np.full((1, 16, 16, 3), 127.5, "float32")
    start = channel_means(conv_net, "conv2", grey)[0, [1, 5]]
    reached = channel_means(conv_net, "conv2", result.raw_images)[[0, 1], [1, 5]]
    assert np.all(reached > start + 1.0)
    assert result.images.dtype == np.uint8


def test_style_fourier_runs_and_explicit_arguments_win(conv_net):
    result = visualize_filters(conv_net, "conv2", [2], max_iter=20, seed=0, style="fourier")
    assert result.activation_history[-1, 0] > result.activation_history[0, 0]
    resolved = styles.resolve("fourier", visualize_filters, {"tv_weight": 3.0, "lp_norm_weight": 10})
    assert resolved["tv_weight"] == 3.0 and resolved["lp_norm_weight"] == 0
    assert resolved["style"] is None
    with pytest.raises(ValueError, match="keras-vis"):
        styles.get("no such style")


def _dead_start_net():
    """conv (bias -5, zero-mean kernels) -> ReLU: every unit is off on a uniform grey image."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv", kernel_initializer=keras.initializers.RandomNormal(0, 0.1),
                               bias_initializer=keras.initializers.Constant(-5.0))
    outputs = keras.layers.Activation("relu", name="relu")(conv(inputs))
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel - kernel.mean(axis=(0, 1, 2)), bias])
    return keras.Model(inputs, outputs)


def test_relu_warmup_revives_channels_dead_at_the_start():
    model = _dead_start_net()
    cold = visualize_filters(model, "relu", [0, 1], max_iter=30, seed=0, style="lucid", relu_warmup=0)
    warm = visualize_filters(model, "relu", [0, 1], max_iter=30, seed=0, style="lucid")  # 16 steps
    assert cold.dead.all() and np.all(cold.activation_history == 0)
    assert not warm.dead.any() and np.all(warm.activation_history[-1] > 1.0)


def test_relu_warmup_of_one_run_is_not_ended_by_another_run():
    """The warm-up belongs to each step: a second run in another thread, whose warm-up ends after
    one step, must not cut short the first run's (as a shared on/off switch would)."""
    model = _dead_start_net()
    alone = visualize_filters(model, "relu", [0, 1], max_iter=30, seed=0, style="lucid")
    second_done = threading.Event()

    def pause_for_the_second_run(snapshot):
        if snapshot.step == 2:
            assert second_done.wait(120)

    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", visualize_filters(
        model, "relu", [0, 1], max_iter=30, seed=0, style="lucid", snapshot_every=1,
        on_snapshot=pause_for_the_second_run)))
    first.start()
    # One filter: its own batch state, the same warmed-up model; its warm-up ends after step 1.
    visualize_filters(model, "relu", [2], max_iter=5, seed=0, style="lucid", relu_warmup=1)
    second_done.set()
    first.join(120)
    np.testing.assert_allclose(results["first"].activation_history, alone.activation_history, rtol=1e-5)
    assert not results["first"].dead.any()


def test_relu_warmup_and_backprop_modifier():
    model = _dead_start_net()
    with pytest.raises(ValueError, match="relu_warmup"):
        visualize_filters(model, "relu", [0], max_iter=2, relu_warmup=4, backprop_modifier="guided")
    # A style's warm-up gives way to the caller's backprop modifier.
    visualize_filters(model, "relu", [0], max_iter=2, style="fourier", backprop_modifier="guided")


def test_negative_objective_lowers_the_channel():
    keras.utils.set_random_seed(6)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, name="linear")(inputs))
    result = visualize_filters(model, "linear", [0, 2], max_iter=30, seed=0, style="fourier",
                               objective="negative")
    grey = np.full((1, 16, 16, 3), 127.5, "float32")
    start = channel_means(model, "linear", grey)[0, [0, 2]]
    reached = channel_means(model, "linear", result.raw_images)[[0, 1], [0, 2]]
    assert np.all(reached < start - 1.0)
    assert np.all(result.activation_history[-1] > result.activation_history[0])  # minus the activation


def _gram_similarity(features):
    flat = features.reshape(len(features), -1, features.shape[-1])
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(len(features), -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    similarity = grams @ grams.T
    return similarity[~np.eye(len(features), dtype=bool)].mean()


def test_diversity_makes_copies_of_a_filter_differ(conv_net):
    probe = keras.Model(conv_net.inputs, conv_net.get_layer("conv2").output)
    similarity = {}
    for weight in (0, 30):
        result = visualize_filters(conv_net, "conv2", [1, 1, 1, 1], max_iter=40, seed=0, style="fourier",
                                   diversity=weight)
        assert not np.allclose(result.raw_images[0], result.raw_images[1])  # copies start apart
        similarity[weight] = _gram_similarity(np.asarray(probe(result.raw_images)))
    assert similarity[30] < similarity[0] - 0.02


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_fourier_images_and_their_gradients_are_the_same_on_jax_and_torch(backend):
    # Colour (decorrelated) and grey odd-width images in two input ranges, from the same keys,
    # run in a fresh process on that backend (jax: to_image under jax.jit).
    ops_backend_checks.assert_same(ops_backend_checks.under(backend), ops_backend_checks.outputs(), "fourier ")
