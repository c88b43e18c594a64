"""Losses and regularizers: keras-vis's names, defaults and formulas; custom losses."""
import inspect

import keras
import numpy as np
import pytest
from keras import ops

from actmax_widgets import utils
from actmax_widgets.losses import ActivationMaximization, ChannelActivations, Loss
from actmax_widgets.regularizers import LPNorm, TotalVariation
from actmax_widgets.visualization import visualize_activation, visualize_activation_with_losses
from core_helpers import SIZE, noise_images


def _evaluate(inputs, expression, x):
    return np.asarray(keras.Model(inputs, expression)(x))


# --- names and defaults ---------------------------------------------------------------------

def test_names_and_defaults_are_keras_vis():
    image = keras.Input((8, 8, 3))
    assert Loss.name == "Unnamed Loss" and str(Loss()) == "Unnamed Loss"
    assert ActivationMaximization.name == "ActivationMax Loss"
    assert TotalVariation(image).name == "TV(2.0) Loss"
    assert TotalVariation(image, beta=3.5).name == "TV(3.5) Loss"
    assert LPNorm(image).name == "L-6.0 Norm Loss"
    assert LPNorm(image, p=np.inf).name == "L-inf Norm Loss"
    assert inspect.signature(TotalVariation).parameters["beta"].default == 2.0
    assert inspect.signature(LPNorm).parameters["p"].default == 6.0
    with pytest.raises(NotImplementedError):
        Loss().build_loss()


def test_lp_norm_refuses_p_below_one():
    with pytest.raises(ValueError, match=r"p value should range between \[1, inf\)"):
        LPNorm(keras.Input((4, 4, 1)), p=0.5)


# --- formulas -------------------------------------------------------------------------------

def _keras_vis_tv(x, beta):
    """keras-vis's TotalVariation on one channels-last image (H, W, C), in numpy."""
    dx = x[1:, :-1, :] - x[:-1, :-1, :]
    dy = x[:-1, 1:, :] - x[:-1, :-1, :]
    return np.sum((dx ** 2 + dy ** 2) ** (beta / 2.0)) / x.size


@pytest.mark.parametrize("beta", [2.0, 1.0, 3.0])
def test_total_variation_matches_keras_vis(beta):
    image = keras.Input((6, 7, 3))
    x = np.random.default_rng(0).uniform(0, 255, (2, 6, 7, 3)).astype("float32")
    got = _evaluate(image, TotalVariation(image, beta=beta).build_loss(), x)
    expected = [_keras_vis_tv(x[b].astype("float64"), beta) for b in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_total_variation_channels_first_and_other_ranks():
    x = np.random.default_rng(1).normal(size=(2, 6, 7, 3)).astype("float32")
    channels_last = keras.Input((6, 7, 3))
    channels_first = keras.Input((3, 6, 7))
    a = _evaluate(channels_last, TotalVariation(channels_last, channel_axis=-1).build_loss(), x)
    b = _evaluate(channels_first, TotalVariation(channels_first, channel_axis=1).build_loss(),
                  np.moveaxis(x, -1, 1))
    np.testing.assert_allclose(a, b, rtol=1e-5)

    signal = keras.Input((9, 2))  # 1-D: squared differences along the one axis
    s = np.random.default_rng(2).normal(size=(1, 9, 2)).astype("float32")
    np.testing.assert_allclose(_evaluate(signal, TotalVariation(signal).build_loss(), s),
                               [np.sum(np.diff(s[0], axis=0) ** 2) / s[0].size], rtol=1e-5)

    volume = keras.Input((3, 4, 5, 1))  # 3-D
    v = np.random.default_rng(3).normal(size=(1, 3, 4, 5, 1)).astype("float32")[0]
    d = [v[1:, :-1, :-1] - v[:-1, :-1, :-1], v[:-1, 1:, :-1] - v[:-1, :-1, :-1], v[:-1, :-1, 1:] - v[:-1, :-1, :-1]]
    np.testing.assert_allclose(_evaluate(volume, TotalVariation(volume).build_loss(), v[None]),
                               [sum(np.sum(t ** 2) for t in d) / v.size], rtol=1e-5)


def test_smoother_image_has_lower_total_variation():
    image = keras.Input((8, 8, 1))
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(1, 8, 8, 1)).astype("float32")
    smooth = np.broadcast_to(np.linspace(-1, 1, 8)[None, :, None, None], (1, 8, 8, 1)).astype("float32")
    tv = TotalVariation(image).build_loss()
    assert _evaluate(image, tv, smooth)[0] < 0.2 * _evaluate(image, tv, noisy)[0]


@pytest.mark.parametrize("p", [1.0, 2.0, 6.0, np.inf])
def test_lp_norm_matches_keras_vis_on_large_pixel_values(p):
    image = keras.Input((SIZE, SIZE, 3))
    x = np.random.default_rng(0).uniform(-255, 255, (2, SIZE, SIZE, 3)).astype("float32")
    got = _evaluate(image, LPNorm(image, p=p).build_loss(), x)
    flat = x.reshape(2, -1).astype("float64")
    norm = flat.max(axis=1) if np.isinf(p) else (np.abs(flat) ** p).sum(axis=1) ** (1 / p)
    np.testing.assert_allclose(got, norm / flat.shape[1], rtol=1e-4)


def test_regularizers_on_unknown_size_inputs_normalize_by_the_real_size():
    fixed = keras.Input((5, 6, 2))
    unknown = keras.Input((None, None, 2))
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 6, 2)).astype("float32")
    for make in (LPNorm, TotalVariation):
        np.testing.assert_allclose(_evaluate(unknown, make(unknown).build_loss(), x),
                                   _evaluate(fixed, make(fixed).build_loss(), x), rtol=1e-5)


def test_total_variation_needs_spatial_dimensions():
    with pytest.raises(ValueError, match=r"spatial dimensions.*\(None, 10\).*tv_weight=0"):
        TotalVariation(keras.Input((10,))).build_loss()


def test_activation_maximization_is_minus_the_mean_summed_over_indices(conv_net, channels_first_net):
    x = noise_images((SIZE, SIZE, 3), 2)
    conv2 = conv_net.get_layer("conv2")
    out = np.asarray(keras.Model(conv_net.inputs[0], conv2.output)(x))
    loss = _evaluate(conv_net.inputs[0], ActivationMaximization(conv2, [1, 7]).build_loss(), x)
    np.testing.assert_allclose(loss, -(out[..., 1].mean(axis=(1, 2)) + out[..., 7].mean(axis=(1, 2))), rtol=1e-5)
    single = _evaluate(conv_net.inputs[0], ActivationMaximization(conv2, 4).build_loss(), x)
    np.testing.assert_allclose(single, -out[..., 4].mean(axis=(1, 2)), rtol=1e-5)
    # The channel axis comes from the layer's own data format.
    first = channels_first_net.get_layer("conv2")
    loss_first = _evaluate(channels_first_net.inputs[0], ActivationMaximization(first, [1, 7]).build_loss(),
                           np.moveaxis(x, -1, 1))
    np.testing.assert_allclose(loss_first, loss, rtol=1e-4)
    dense = conv_net.get_layer("predictions")
    probabilities = np.asarray(conv_net(x))
    np.testing.assert_allclose(_evaluate(conv_net.inputs[0], ActivationMaximization(dense, [0, 2]).build_loss(), x),
                               -(probabilities[:, 0] + probabilities[:, 2]), rtol=1e-5)


def test_channel_activations_mean_and_center(conv_net):
    x = noise_images((SIZE, SIZE, 3), 2)
    conv2 = conv_net.get_layer("conv2")
    out = np.asarray(keras.Model(conv_net.inputs[0], conv2.output)(x))  # (2, 14, 14, 8)
    mean = _evaluate(conv_net.inputs[0], ChannelActivations(conv2).build_loss(), x)
    center = _evaluate(conv_net.inputs[0], ChannelActivations(conv2, reduction="center").build_loss(), x)
    np.testing.assert_allclose(mean, out.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(center, out[:, 7, 7, :], rtol=1e-6)
    with pytest.raises(ValueError, match="Unknown reduction 'max'"):
        ChannelActivations(conv2, reduction="max").build_loss()


# --- custom losses, keras-vis style ---------------------------------------------------------

class FilterMean(Loss):
    """keras-vis's way: slices written channels-first with ``utils.slicer``."""

    name = "Filter mean"

    def __init__(self, layer, filter_idx):
        self.layer, self.filter_idx = layer, filter_idx

    def build_loss(self):
        selected = self.layer.output[utils.slicer[:, self.filter_idx, ...]]  # (B, H, W) either way
        return -ops.mean(selected, axis=(1, 2))


def test_custom_loss_with_slicer_serves_both_data_formats(conv_net, channels_first_net, data_format):
    settings = dict(max_iter=15, seed=4, verbose=False)
    last = visualize_activation_with_losses(conv_net.input, [(FilterMean(conv_net.get_layer("conv2"), 3), 1)],
                                            **settings)
    builtin = visualize_activation(conv_net, "conv2", 3, tv_weight=0, lp_norm_weight=0, **settings)
    np.testing.assert_array_equal(last, builtin)  # the same loss as ActivationMaximization

    data_format("channels_first")
    first = visualize_activation_with_losses(
        channels_first_net.input, [(FilterMean(channels_first_net.get_layer("conv2"), 3), 1)], **settings)
    assert first.shape == (SIZE, SIZE, 3)  # returned channels-last
    assert np.abs(first.astype(int) - last.astype(int)).max() <= 1


def test_custom_loss_really_drives_the_optimization(conv_net):
    layer = conv_net.get_layer("conv2")
    seed_input = noise_images((SIZE, SIZE, 3))[0]
    probe = keras.Model(conv_net.inputs[0], layer.output)
    before = np.asarray(probe(seed_input[None]))[..., 3].mean()
    optimizer_params = dict(max_iter=20, seed=0, verbose=False)
    image = visualize_activation_with_losses(conv_net.input, [(FilterMean(layer, 3), 1), (LPNorm(conv_net.input), 0)],
                                             seed_input=seed_input, **optimizer_params)
    after = np.asarray(probe(image[None].astype("float32")))[..., 3].mean()
    assert after > 2 * before


def test_loss_weights_trade_off_against_each_other(conv_net):
    """A heavy TV weight gives a smoother image than no TV at all."""
    image = conv_net.input
    layer = conv_net.get_layer("conv2")
    tv_probe = TotalVariation(image)
    tv_of = keras.Model(image, tv_probe.build_loss())
    results = {}
    for weight in (0, 50):
        losses = [(ActivationMaximization(layer, 2), 1), (TotalVariation(image), weight)]
        img = visualize_activation_with_losses(image, losses, max_iter=25, seed=1, verbose=False)
        results[weight] = float(np.asarray(tv_of(img[None].astype("float32")))[0])
    assert results[50] < 0.8 * results[0]
