"""MACO (style='maco'): a fixed natural magnitude spectrum, whole-image random crops, model-sized
results, the alpha mask; and the canvas option (styles.MACO_CANVAS): a canvas larger than the
model's input, random crops shrinking to model scale."""
import keras
import numpy as np
import pytest
from keras import ops

from actmax_widgets import maco, render, styles, visualize_filters
from actmax_widgets.backend.autodiff import value_and_gradients
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
    linear = ops.convert_to_numpy(maco.linear_image(params))
    return np.abs(np.fft.fft2(np.moveaxis(linear, -1, 1)))


@pytest.mark.parametrize("shape", [(32, 32, 3), (33, 46, 3), (40, 24, 1)])
def test_magnitude_spectrum_stays_the_shipped_one_through_optimization(shape):
    keras.utils.set_random_seed(1)
    probe = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(4, 3)])  # linear: never dead
    maco = MacoImage()
    start = maco.init_params(sample_keys(0, [0, 1]), shape, (0, 255))
    params = start
    expected = maco_magnitude(shape[0], shape[1], shape[2])

    def gain(phases):
        return ops.mean(probe(maco.to_image(phases))[..., 0]), ()

    for _ in range(4):  # phases change a lot; the magnitude never does
        np.testing.assert_allclose(_magnitudes(maco, params), np.broadcast_to(expected, (2,) + expected.shape),
                                   rtol=1e-4, atol=1e-4 * expected.max())
        _, _, (grads,) = value_and_gradients(gain, ops.convert_to_tensor(params))
        params = params + 0.5 * np.sign(ops.convert_to_numpy(grads))
    assert np.abs(params - start).max() > 0.1


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
    mixed = maco.contrast * ops.convert_to_numpy(maco.linear_image(params)) @ COLOR_CORRELATION_NORMALIZED.T
    np.testing.assert_allclose(ops.convert_to_numpy(maco.to_image(params)), -1 + 2 / (1 + np.exp(-mixed)),
                               atol=1e-5)


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


@pytest.fixture(scope="module")
def corner_net():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((32, 32, 3))
    seen = keras.layers.Cropping2D(((0, 16), (0, 16)))(inputs)  # the filter sees the top-left only
    x = keras.layers.Conv2D(4, 3, activation="relu", name="corner")(seen)
    return zero_mean_kernels(keras.Model(inputs, x))


def test_maco_style_results_are_model_sized_and_alpha_is_where_the_filter_looks(corner_net):
    # The style's canvas is the model's input, as every other style's: the image the user gets is
    # the one the model was shown (less a zoom of up to ~10%).
    result = visualize_filters(corner_net, "corner", [0, 1], max_iter=24, seed=0, style="maco")
    assert result.raw_images.shape == (2, 32, 32, 3) and result.alpha.shape == (2, 32, 32)
    alpha = result.alpha
    top_left, elsewhere = alpha[:, :14, :14].mean(axis=(1, 2)), alpha[:, 18:, :].mean(axis=(1, 2))
    assert np.all(top_left > 5 * elsewhere + 0.05), (top_left, elsewhere)


def test_canvas_option_result_is_the_canvas_and_alpha_is_where_the_filter_looks(corner_net):
    result = visualize_filters(corner_net, "corner", [0, 1], max_iter=24, seed=0, recipe=styles.MACO_CANVAS)
    assert result.raw_images.shape == (2, 48, 48, 3)  # the whole canvas, 1.5 times the input side
    alpha = result.alpha
    assert alpha.shape == (2, 48, 48) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and alpha.max() == 1.0
    # Crops of the canvas put the model's top-left in the canvas's top-left half (whole-canvas
    # crops) and above-left of its centre (smaller crops kept inside it), never in its far corner.
    top_left, far_corner = alpha[:, :24, :24].mean(axis=(1, 2)), alpha[:, 36:, 36:].mean(axis=(1, 2))
    assert np.all(top_left > 5 * far_corner + 0.05), (top_left, far_corner)


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


def _ramp(batch, side):
    """Images whose value is the column index: a crop's slope says its zoom."""
    return ops.convert_to_tensor(np.tile(np.arange(side, dtype="float32")[None, None, :, None], (batch, side, 1, 3)))


def _slopes(images):
    return np.array([np.polyfit(np.arange(image.shape[1]), image.mean(axis=(0, 2)), 1)[0]
                     for image in ops.convert_to_numpy(images)])


def test_crops_shrink_from_the_whole_canvas_to_model_scale():
    crops = maco.maco_crops(1.0, None, 10, jitter=0.0, spread=0.0, noise=0.0, canvas_scale=2.0)
    ramp, keys = _ramp(2, 64), sample_keys(0, [0, 1])
    start = ops.convert_to_numpy(crops.transform(ramp, SampleRandom(keys, 0)))
    assert start.shape == (2, 32, 32, 3)  # the model's input: half the canvas side
    np.testing.assert_allclose(start[0, 0, :, 0], np.arange(32) * 2 + 0.5, atol=1e-4)  # whole canvas, halved
    late = ops.convert_to_numpy(crops.transform(ramp, SampleRandom(keys, 50)))  # past 10 steps
    np.testing.assert_allclose(late[0, 0, :, 0], np.arange(16, 48), atol=1e-4)  # the middle half, 1:1


def test_maco_style_crops_are_the_whole_image_throughout():
    # Whole-image crops at every step: a crop of side s samples the ramp every s pixels, and the
    # side is 1 less the clipped 5% jitter (a zoom of up to ~10%). Crops shrinking on a larger
    # canvas stay below fourier's deep-layer activation; four of them per step lift whole-image
    # crops above it (bench/QUALITY.md), so the style takes four.
    (crops,) = styles.get("maco").transforms
    assert crops.views == 4 and styles.MACO_CANVAS.transforms[0].views == 4
    ramp, keys = _ramp(8, 32), sample_keys(0, range(8))
    for step in (0, 32, 1000):
        seen = crops.transform(ramp, SampleRandom(keys, step))
        assert tuple(seen.shape) == (8, 32, 32, 3)
        slopes = _slopes(seen)
        assert np.all((slopes > 0.85) & (slopes < 1.01)) and np.median(slopes) > 0.95, (step, slopes)


def test_canvas_option_crops_shrink_to_the_models_scale_and_not_below():
    # MACO_CANVAS's crops, jitter and noise included, on a canvas 1.5 times the input: the whole
    # canvas at step 0 (slope 1.5: shown at 2/3 size), the model's own scale from step 64 on
    # (slope 1 ± the 5% jitter); a crop shrinking further would show details larger than the
    # result has them.
    (crops,) = styles.MACO_CANVAS.transforms
    ramp, keys = _ramp(8, 48), sample_keys(0, range(8))
    early = _slopes(crops.transform(ramp, SampleRandom(keys, 0)))
    middle = _slopes(crops.transform(ramp, SampleRandom(keys, 32)))  # mean side 5/6: slope 1.25
    late = _slopes(crops.transform(ramp, SampleRandom(keys, 1000)))
    assert np.all(early > 1.35) and np.all((middle > 1.1) & (middle < 1.4)), (early, middle)
    assert np.all((late > 0.85) & (late < 1.15)) and abs(np.median(late) - 1.0) < 0.06, late


def test_canvas_is_canvas_scale_times_the_input():
    assert MacoImage().canvas_shape((32, 48, 3)) == (32, 48, 3)  # the style's: the model's input
    assert styles.MACO_CANVAS.parameterization().canvas_shape((32, 48, 3)) == (48, 72, 3)
    assert MacoImage(canvas_scale=1.5).canvas_shape((32, 33, 1)) == (48, 50, 1)
    assert MacoImage(canvas_scale=1).canvas_shape((32, 32, 3)) == (32, 32, 3)


def test_crop_and_resize_is_bilinear_at_pixel_centres():
    images = np.random.default_rng(0).random((2, 10, 12, 3)).astype("float32")
    top, left, side = np.array([[0.1], [0.3]]), np.array([[0.2], [0.0]]), np.array([[0.5], [0.6]])
    out = ops.convert_to_numpy(maco.crop_and_resize(images, *(ops.convert_to_tensor(v, "float32")
                                                             for v in (top, left, side)), (7, 9)))

    def sample(image, y, x):  # bilinear, edge pixels repeated outside
        y, x = np.clip(y, 0, image.shape[0] - 1), np.clip(x, 0, image.shape[1] - 1)
        y0, x0 = int(y), int(x)
        y1, x1 = min(y0 + 1, image.shape[0] - 1), min(x0 + 1, image.shape[1] - 1)
        fy, fx = y - y0, x - x0
        return ((1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x1])
                + fy * ((1 - fx) * image[y1, x0] + fx * image[y1, x1]))

    for b in range(2):
        for i in range(7):
            for j in range(9):
                y = (top[b, 0] + (i + 0.5) / 7 * side[b, 0]) * 10 - 0.5
                x = (left[b, 0] + (j + 0.5) / 9 * side[b, 0]) * 12 - 0.5
                np.testing.assert_allclose(out[b, i, j], sample(images[b], y, x), atol=1e-5)
    whole = maco.crop_and_resize(images, ops.zeros((2, 1)), ops.zeros((2, 1)), ops.ones((2, 1)), (10, 12))
    np.testing.assert_allclose(ops.convert_to_numpy(whole), images, atol=1e-6)


def test_bad_maco_settings_say_what_to_do():
    with pytest.raises(ValueError, match="2 channels.*param='fourier'"):
        MacoImage().init_params(sample_keys(0, [0]), (16, 16, 2), (0, 255))
    with pytest.raises(ValueError, match="start=0.*fractions"):
        maco.maco_crops(start=0)
    with pytest.raises(ValueError, match="canvas_scale.*0.5"):
        MacoImage(canvas_scale=0.5)
    with pytest.raises(ValueError, match="canvas_scale.*0.5"):
        maco.maco_crops(canvas_scale=0.5)


class _Extreme:
    """Draws at the edges of [0, 1]: a float32 draw can round up to exactly 1.0."""

    step = 0

    def __init__(self, value):
        self.value = value

    def uniform(self, salt, n=1):
        return ops.full((2, n), self.value)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_crops_stay_finite_at_extreme_draws(value):
    images = ops.convert_to_tensor(np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32"))
    assert np.all(np.isfinite(ops.convert_to_numpy(maco.maco_crops().transform(images, _Extreme(value)))))


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
