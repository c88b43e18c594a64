"""``utils``: keras-vis's helpers, exactly as keras-vis defined them (RESEARCH.md §1)."""
import keras
import numpy as np
import pytest

from actmax_widgets import utils
from core_helpers import SIZE, noise_images


# --- slicer, get_img_shape ------------------------------------------------------------------

def test_slicer_moves_the_channel_index_last_for_channels_last(data_format):
    x = np.arange(2 * 5 * 6 * 4).reshape(2, 5, 6, 4)  # channels-last
    data_format("channels_last")
    assert utils.slicer[:, 3, ...] == (slice(None), Ellipsis, 3)
    np.testing.assert_array_equal(x[utils.slicer[:, 3, ...]], x[..., 3])
    np.testing.assert_array_equal(x[utils.slicer[:, 1:3, 2, 4]], x[:, 2, 4, 1:3])


def test_slicer_is_the_identity_for_channels_first(data_format):
    data_format("channels_first")
    x = np.arange(2 * 4 * 5 * 6).reshape(2, 4, 5, 6)
    assert utils.slicer[:, 3, ...] == (slice(None), 3, Ellipsis)
    np.testing.assert_array_equal(x[utils.slicer[:, 3, ...]], x[:, 3])


def test_slicer_serves_both_formats_with_one_expression(data_format):
    channels_last = np.random.default_rng(0).normal(size=(2, 5, 6, 4))
    channels_first = np.moveaxis(channels_last, -1, 1)
    data_format("channels_last")
    a = channels_last[utils.slicer[:, 2, ...]]
    data_format("channels_first")
    b = channels_first[utils.slicer[:, 2, ...]]
    np.testing.assert_array_equal(a, b)


def test_get_img_shape(data_format):
    data_format("channels_last")
    assert utils.get_img_shape(np.zeros((2, 8, 9, 3))) == (2, 3, 8, 9)
    assert utils.get_img_shape(keras.Input((8, 9, 3))) == (None, 3, 8, 9)
    assert utils.get_img_shape(np.zeros((1, 7, 2))) == (1, 2, 7)
    data_format("channels_first")
    assert utils.get_img_shape(np.zeros((2, 3, 8, 9))) == (2, 3, 8, 9)


# --- find_layer_idx, listify, model_input ---------------------------------------------------

def test_find_layer_idx(conv_net, sequential_conv_net):
    assert utils.find_layer_idx(conv_net, "conv2") == 2  # InputLayer is layer 0
    assert utils.find_layer_idx(sequential_conv_net, "conv2") == 1
    assert conv_net.layers[utils.find_layer_idx(conv_net, "predictions")].name == "predictions"
    with pytest.raises(ValueError) as info:
        utils.find_layer_idx(conv_net, "block5_conv3")
    assert "'block5_conv3'" in str(info.value) and "conv1, conv2" in str(info.value)


def test_listify():
    assert utils.listify(3) == [3]
    assert utils.listify([1, 2]) == [1, 2]
    assert utils.listify((1, 2)) == [1, 2]
    assert utils.listify(np.array([4, 5])) == [4, 5]


def test_model_input(conv_net, sequential_conv_net):
    assert utils.model_input(conv_net) is conv_net.inputs[0]
    assert tuple(utils.model_input(sequential_conv_net).shape) == (None, SIZE, SIZE, 3)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="no symbolic input"):
        utils.model_input(unbuilt)


def test_random_array():
    x = utils.random_array((50, 40, 3), mean=128.0, std=20.0, rng=np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (50, 40, 3)
    assert abs(x.mean() - 128) < 1 and abs(x.std() - 20) < 1


# --- deprocess_input, stitch_images ---------------------------------------------------------

def _keras_vis_deprocess(x, input_range):
    x = x.copy()
    x -= x.mean()
    x /= x.std() + keras.config.epsilon()
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0, 1)
    return (input_range[1] - input_range[0]) * x + input_range[0]


@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_deprocess_input_float_ranges_match_keras_vis(input_range):
    x = np.random.default_rng(0).normal(3.0, 40.0, (8, 9, 3))
    before = x.copy()
    out = utils.deprocess_input(x, input_range)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _keras_vis_deprocess(x, input_range), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, before)  # the input is not modified
    assert out.min() >= input_range[0] and out.max() <= input_range[1]


def test_deprocess_input_int_range_gives_rounded_uint8():
    x = np.random.default_rng(1).normal(0.0, 5.0, (8, 9, 3)).astype("float32")
    out = utils.deprocess_input(x)  # default (0, 255)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.round(_keras_vis_deprocess(x.astype("float64"), (0, 255))))
    # Standard deviation 0.1 of the range around the middle: mostly mid-grey, nothing clipped here.
    assert abs(out.mean() - 127.5) < 2 and abs(out.std() - 25.5) < 1.5


def test_deprocess_input_int_range_outside_uint8_stays_in_range():
    x = np.random.default_rng(2).normal(0.0, 1.0, (6, 6, 1))
    out = utils.deprocess_input(x, (-1, 1))
    assert out.min() >= -1 and out.max() <= 1
    np.testing.assert_allclose(out, _keras_vis_deprocess(x, (-1, 1)), rtol=1e-5, atol=1e-6)


def test_deprocess_input_of_a_constant_image_is_mid_range():
    out = utils.deprocess_input(np.full((4, 4, 3), 7.0))
    assert np.all(out == 128)


def _keras_vis_stitch(images, margin=5, cols=5):
    h, w, c = images[0].shape
    n_rows = int(np.ceil(len(images) / cols))
    n_cols = min(len(images), cols)
    out = np.zeros((n_rows * h + (n_rows - 1) * margin, n_cols * w + (n_cols - 1) * margin, c), images[0].dtype)
    for row in range(n_rows):
        for col in range(n_cols):
            idx = row * cols + col
            if idx >= len(images):
                break
            out[(h + margin) * row:(h + margin) * row + h, (w + margin) * col:(w + margin) * col + w, :] = images[idx]
    return out


@pytest.mark.parametrize("n, margin, cols", [(7, 5, 5), (3, 2, 5), (8, 0, 4), (1, 5, 5)])
def test_stitch_images_matches_keras_vis(n, margin, cols):
    rng = np.random.default_rng(n)
    images = [rng.integers(1, 255, (6, 4, 3)).astype("uint8") for _ in range(n)]
    stitched = utils.stitch_images(images, margin=margin, cols=cols)
    np.testing.assert_array_equal(stitched, _keras_vis_stitch(images, margin, cols))
    assert stitched.dtype == np.uint8


def test_stitch_images_defaults_and_layout():
    images = [np.full((4, 3, 1), i + 1, "uint8") for i in range(6)]
    stitched = utils.stitch_images(images)  # margin 5, 5 columns -> 2 rows
    assert stitched.shape == (4 * 2 + 5, 3 * 5 + 5 * 4, 1)
    assert stitched[0, 0, 0] == 1 and stitched[9, 0, 0] == 6  # image 6 starts row 2
    assert stitched[0, 3, 0] == 0  # margin
    assert utils.stitch_images([]) is None


# --- apply_modifications --------------------------------------------------------------------

def _logits(model, x):
    features = keras.Model(utils.model_input(model), model.get_layer("pool").output)(x)
    kernel, bias = model.get_layer("predictions").get_weights()
    return np.asarray(features) @ kernel + bias


@pytest.mark.parametrize("model_name", ["conv_net", "sequential_conv_net"])
def test_apply_modifications_makes_the_softmax_to_linear_swap_take_effect(model_name, request):
    model = request.getfixturevalue(model_name)
    x = noise_images((SIZE, SIZE, 3), 2)
    before = model.predict(x, verbose=0)  # traces and caches predict with softmax
    np.testing.assert_allclose(before.sum(axis=1), 1.0, rtol=1e-5)
    idx = utils.find_layer_idx(model, "predictions")
    model.layers[idx].activation = keras.activations.linear
    modified = utils.apply_modifications(model)
    assert isinstance(modified, type(model)) and modified is not model
    assert [layer.name for layer in modified.layers] == [layer.name for layer in model.layers]
    expected = _logits(model, x)
    np.testing.assert_allclose(modified.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(modified(x)), expected, rtol=1e-4, atol=1e-5)
    for old, new in zip(model.get_weights(), modified.get_weights()):
        np.testing.assert_array_equal(old, new)
    # A loss can be built from the modified model's layer output (keras-vis style).
    out = keras.Model(utils.model_input(modified), modified.layers[idx].output)(x)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)


def test_apply_modifications_accepts_custom_objects(conv_net):
    assert utils.apply_modifications(conv_net, custom_objects={"x": object}).name == conv_net.name


# --- draw_text, get_imagenet_label ----------------------------------------------------------

def test_draw_text_returns_a_marked_copy():
    image = np.full((30, 60, 3), 255, "uint8")
    out = utils.draw_text(image, "Filter 3")
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out < 255).any() and (image == 255).all()
    grey = utils.draw_text(np.full((30, 60, 1), 255, "uint8"), "7", color=(0, 0, 0))
    assert grey.shape == (30, 60, 1) and (grey < 255).any()


def test_get_imagenet_label():
    assert utils.get_imagenet_label(20) == "water ouzel"
    assert utils.get_imagenet_label([1, 2], join=" / ") == "goldfish / great white shark"
