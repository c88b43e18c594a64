"""MACO (style='maco'): a fixed natural magnitude spectrum, random crops, the alpha mask."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import maco, render, styles, transforms, visualize_filters
from actmax_widgets.maco import MacoImage, maco_magnitude
from actmax_widgets.parameterizations import COLOR_CORRELATION_NORMALIZED
from actmax_widgets.sample_random import SampleRandom, sample_keys
from core_helpers import conv_layers, functional, zero_mean_kernels

STEPS = 20


@pytest.fixture(scope="module")
def net32():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((32, 32, 3), conv_layers(), "net32"))


def _magnitudes(maco, params):
    """(B, C, H, W) magnitude spectrum of the image before colour mixing and sigmoid."""
    linear = maco.linear_image(params).numpy()
    return np.abs(np.fft.fft2(np.moveaxis(linear, -1, 1)))


@pytest.mark.parametrize("shape", [(32, 32, 3), (33, 46, 3), (40, 24, 1)])
def test_magnitude_spectrum_stays_the_shipped_one_through_optimization(shape):
    keras.utils.set_random_seed(1)
    probe = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(4, 3)])  # linear: never dead
    maco = MacoImage()
    params = tf.Variable(maco.init_params(sample_keys(0, [0, 1]), shape, (0, 255)))
    optimizer = keras.optimizers.Adam(0.5)
    expected = maco_magnitude(shape[0], shape[1], shape[2])
    for _ in range(4):  # phases change a lot; the magnitude never does
        np.testing.assert_allclose(_magnitudes(maco, params), np.broadcast_to(expected, (2,) + expected.shape),
                                   rtol=1e-4, atol=1e-4 * expected.max())
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(probe(maco.to_image(params))[..., 0])
        optimizer.apply_gradients([(tape.gradient(loss, params), params)])
    assert np.abs(params.numpy() - maco.init_params(sample_keys(0, [0, 1]), shape, (0, 255))).max() > 0.1


def test_magnitude_at_the_reference_size_is_the_shipped_array():
    from importlib.resources import files

    shipped = np.fft.ifftshift(np.load(files("actmax_widgets") / "data/maco_spectrum.npy").astype("float32"),
                               axes=(1, 2))
    ours = maco_magnitude(*shipped.shape[1:], 3)
    shipped[:, 0, 0] = 0.0
    scale = np.sum(ours * shipped) / np.sum(shipped * shipped)  # only the overall scale may differ
    np.testing.assert_allclose(ours, scale * shipped, rtol=2e-3, atol=2e-3 * ours.max())


def test_image_is_the_colour_mixed_linear_image_in_the_input_range():
    maco = MacoImage()
    params = maco.init_params(sample_keys(3, [0]), (16, 16, 3), (-1, 1))
    mixed = maco.contrast * maco.linear_image(params).numpy() @ COLOR_CORRELATION_NORMALIZED.T
    np.testing.assert_allclose(maco.to_image(params).numpy(), -1 + 2 / (1 + np.exp(-mixed)), atol=1e-5)


def test_maco_raises_the_target_activation(net32):
    result = visualize_filters(net32, "conv2", [0, 3, 5], max_iter=STEPS, seed=0, style="maco")
    history = result.activation_history
    assert np.all(history[-4:].mean(axis=0) > history[:2].mean(axis=0) + 0.5), history[[0, -1]]


def test_batched_equals_one_at_a_time_and_seeds_repeat(net32):
    batched = visualize_filters(net32, "conv2", [0, 3, 5], max_iter=8, seed=4, style="maco")
    for row, index in enumerate([0, 3, 5]):
        alone = visualize_filters(net32, "conv2", [index], max_iter=8, seed=4, style="maco")
        np.testing.assert_allclose(batched.raw_images[row], alone.raw_images[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(batched.alpha[row], alone.alpha[0], atol=1e-4)
    again = visualize_filters(net32, "conv2", [0, 3, 5], max_iter=8, seed=4, style="maco")
    np.testing.assert_array_equal(again.images, batched.images)
    other = visualize_filters(net32, "conv2", [0, 3, 5], max_iter=8, seed=5, style="maco")
    assert np.abs(other.raw_images - batched.raw_images).mean() > 1.0


def test_alpha_is_where_the_filter_looks():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((32, 32, 3))
    seen = keras.layers.Cropping2D(((0, 16), (0, 16)))(inputs)  # the filter sees the top-left only
    x = keras.layers.Conv2D(4, 3, activation="relu", name="corner")(seen)
    model = zero_mean_kernels(keras.Model(inputs, x))
    result = visualize_filters(model, "corner", [0, 1], max_iter=12, seed=0, style="maco")
    alpha = result.alpha
    assert alpha.shape == (2, 32, 32) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and alpha.max() == 1.0
    top_left, bottom_right = alpha[:, :16, :16].mean(axis=(1, 2)), alpha[:, 20:, 20:].mean(axis=(1, 2))
    assert np.all(top_left > 5 * bottom_right + 0.05), (top_left, bottom_right)


@pytest.mark.parametrize("style", ["fourier", "keras-vis"])
def test_other_styles_have_no_alpha(net32, style):
    result = visualize_filters(net32, "conv2", [1], max_iter=2, seed=0, style=style)
    assert result.alpha is None
    with pytest.raises(ValueError, match="style='maco'"):
        result.grid(alpha=True)


def test_grid_with_alpha_fades_to_white_where_alpha_is_low():
    image = np.full((8, 8, 3), 40, np.uint8)
    alpha = np.zeros((8, 8), "float32")
    alpha[:4] = 1.0
    faded = render.with_alpha(image, alpha)
    assert np.all(faded[:4] == 40) and np.all(faded[4:] == 255)
    assert np.all(render.with_alpha(image, alpha, background=0)[4:] == 0)
    with pytest.raises(ValueError, match="alpha has shape"):
        render.with_alpha(image, alpha[:4])


def test_crops_shrink_from_the_whole_image_to_the_end_size():
    crops = maco.maco_crops(1.0, 0.5, 10, jitter=0.0, spread=0.0, noise=0.0)
    ramp = tf.constant(np.tile(np.arange(32, dtype="float32")[None, None, :, None], (2, 32, 1, 3)))
    keys = tf.constant(sample_keys(0, [0, 1]))
    start = crops.transform(ramp, SampleRandom(keys, 0)).numpy()
    np.testing.assert_allclose(start, ramp.numpy(), atol=1e-3)  # step 0: the whole image
    late = crops.transform(ramp, SampleRandom(keys, 50)).numpy()  # past 10 steps: the middle half
    assert late.min() == pytest.approx(31 * 0.25, abs=1e-3) and late.max() == pytest.approx(31 * 0.75, abs=1e-3)


def test_maco_style_shows_the_model_the_image_at_its_own_scale_to_the_end():
    # The result is used (and measured) whole: crops shrinking to half the image optimised it at
    # twice the scale and lost 45% of the deep-layer activation (bench/QUALITY.md).
    (crops,) = styles.get("maco").transforms
    ramp = tf.constant(np.tile(np.arange(32, dtype="float32")[None, None, :, None], (8, 32, 1, 3)))
    late = crops.transform(ramp, SampleRandom(tf.constant(sample_keys(0, range(8))), 1000)).numpy()
    slopes = [np.polyfit(np.arange(32), sample.mean(axis=(0, 2)), 1)[0] for sample in late]
    assert min(slopes) > 0.85, slopes  # a crop of side s stretches the ramp to slope s


def test_bad_maco_settings_say_what_to_do():
    with pytest.raises(ValueError, match="2 channels.*param='fourier'"):
        MacoImage().init_params(sample_keys(0, [0]), (16, 16, 2), (0, 255))
    with pytest.raises(ValueError, match="start=0.*fractions"):
        maco.maco_crops(start=0)


class _Extreme:
    """Draws at the edges of [0, 1]: a float32 draw can round up to exactly 1.0."""

    step = tf.constant(0, tf.int64)

    def __init__(self, value):
        self.value = value

    def uniform(self, salt, n=1):
        return tf.fill([2, n], self.value)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_crops_stay_finite_at_extreme_draws(value):
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32"))
    assert np.all(np.isfinite(maco.maco_crops().transform(images, _Extreme(value)).numpy()))


def test_alpha_blur_is_the_per_row_gaussian_on_whole_arrays():
    """The alpha mask's blur runs on whole arrays (512 maps at 224 px took seconds row by row)
    and gives what the per-row convolution with reflected edges gave."""
    from actmax_widgets import result as result_module

    def per_row(maps, sigma):  # the blur as it was: np.convolve along every row, then column
        radius = int(np.ceil(2.5 * sigma))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel /= kernel.sum()
        for axis in (1, 2):
            padded = np.pad(maps, [(radius, radius) if a == axis else (0, 0) for a in range(3)], mode="reflect")
            maps = np.apply_along_axis(lambda line: np.convolve(line, kernel, mode="valid"), axis, padded)
        return maps

    maps = np.random.default_rng(0).random((3, 20, 13)) ** 4
    for sigma in (1.0, 2.6):
        np.testing.assert_allclose(result_module._blur(maps, sigma), per_row(maps, sigma), rtol=1e-12, atol=1e-15)
    assert result_module.alpha_from_attribution(list(maps)).shape == (3, 20, 13)
