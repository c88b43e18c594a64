"""Feature accentuation: the photo changed just enough to raise a filter, batched over filters."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets.evidence import accentuation
from actmax_widgets.evidence.accentuation import PhotoFourierImage, accentuate
from core_helpers import SIZE, zero_mean_kernels


def photo(size=SIZE, seed=0):
    """A smooth colour photo stand-in: gradients and a soft blob, uint8."""
    y, x = np.mgrid[0:size, 0:size] / size
    blob = np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) / 0.05)
    rng = np.random.default_rng(seed)
    image = np.stack([60 + 120 * x, 80 + 100 * y, 70 + 150 * blob], -1) + rng.normal(0, 3, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_the_fourier_parameterization_inverts_to_the_photo():
    parameterization = PhotoFourierImage(decay=1.75)
    images = np.stack([photo(20), photo(20, seed=1)]).astype("float32")[:, :, :19]  # odd width too
    params = parameterization.init_params([1, 2], images.shape[1:], (0, 255), images)
    back = parameterization.to_image(tf.constant(params)).numpy()
    # Only the ends of the range move (a sigmoid never reaches 0 or 255); these photos stay inside.
    assert np.abs(back - images).max() < 0.01


def test_accentuation_raises_each_filter_and_stays_near_the_photo(conv_net):
    result = accentuate(conv_net, "conv2", [0, 1, 2], photo(), steps=24, strength=4)
    assert result.images.shape == (3, SIZE, SIZE, 3) and result.images.dtype == np.uint8
    assert np.all(result.activations > result.start_activations + 0.05 * np.abs(result.start_activations).max())
    assert np.all(result.distances < 0.08)  # root-mean-square change under 8% of 0..255 (0.27 unheld)
    np.testing.assert_array_equal(result.photo, photo())
    assert result.change_maps.shape == (3, SIZE, SIZE)
    assert result.change_maps.min() >= 0 and np.allclose(result.change_maps.max(axis=(1, 2)), 1)


def test_a_photo_held_firmly_comes_back_unchanged_with_a_dark_change_map(conv_net):
    result = accentuate(conv_net, "conv2", [0], photo(), steps=4, strength=1e6)
    assert np.abs(result.images[0].astype(int) - photo()).max() <= 1
    assert result.change_maps.max() < 0.2


def test_a_higher_strength_stays_closer_to_the_photo(conv_net):
    loose = accentuate(conv_net, "conv2", [0, 1, 2], photo(), steps=24, strength=0.5)
    firm = accentuate(conv_net, "conv2", [0, 1, 2], photo(), steps=24, strength=32)
    assert np.all(firm.distances < 0.7 * loose.distances)
    assert np.all(firm.activations <= loose.activations)


def test_batched_equals_one_at_a_time(conv_net):
    together = accentuate(conv_net, "conv2", [0, 3, 5], photo(), steps=16)
    for row, index in enumerate([0, 3, 5]):
        alone = accentuate(conv_net, "conv2", [index], photo(), steps=16)
        assert np.abs(alone.images[0].astype(int) - together.images[row]).max() <= 1
        np.testing.assert_allclose(alone.activations[0], together.activations[row], rtol=1e-3, atol=1e-3)


def test_a_channels_first_model_gets_the_same_images(conv_net, channels_first_net):
    last = accentuate(conv_net, "conv2", [0, 1], photo(), steps=16)
    first = accentuate(channels_first_net, "conv2", [0, 1], photo(), steps=16)
    assert np.abs(last.images.astype(int) - first.images).max() <= 1
    np.testing.assert_allclose(first.activations, last.activations, rtol=1e-3)


def test_the_image_changes_where_the_filter_looks():
    """A net that sees only the left half of the image: the right half stays the photo."""
    keras.utils.set_random_seed(3)
    image = keras.Input((32, 32, 3))
    mask = np.zeros((1, 1, 32, 1), "float32")
    mask[:, :, :16] = 1.0
    left_only = keras.layers.Lambda(lambda x: x * mask, name="left_only")(image)
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(left_only)
    model = zero_mean_kernels(keras.Model(image, conv))
    result = accentuate(model, "conv", [0, 1], photo(32), steps=24, strength=4)
    change = np.abs(result.images.astype(float) - result.photo).mean(axis=-1)
    assert np.all(change[:, :, :14].mean(axis=(1, 2)) > 3 * change[:, :, 18:].mean(axis=(1, 2)))
    assert np.all(result.change_maps[:, :, :14].mean(axis=(1, 2)) > 3 * result.change_maps[:, :, 18:].mean(axis=(1, 2)))


def test_a_new_photo_reuses_the_traced_step(conv_net):
    accentuate(conv_net, "conv2", [0, 1], photo(), steps=2)
    compiled, _ = accentuation._anchored(conv_net, "conv2", None)
    second = accentuate(conv_net, "conv2", [2, 3], photo(seed=5)[::-1], steps=8)
    assert compiled.is_traced(2)
    np.testing.assert_array_equal(second.photo, photo(seed=5)[::-1])
    assert np.all(second.distances < 0.15)  # measured against the new photo, not the first


@pytest.mark.parametrize("arguments, error, words", [
    ({"strength": -1}, ValueError, ["strength=-1", "strength=8"]),
    ({"strength": "high"}, TypeError, ["strength", "'high'"]),
    ({"steps": 0}, ValueError, ["steps=0", "steps=64"]),
    ({"steps": None}, TypeError, ["steps=None", "steps=64"]),
    ({"filters": []}, ValueError, ["filters=[]", "at least one filter"]),
    ({"filters": [99]}, ValueError, ["99"]),
    ({"image": np.zeros((4, 4, 4, 4))}, ValueError, ["image", "(4, 4, 4, 4)"]),
    ({"image": "no_such_photo.png"}, ValueError, ["no_such_photo.png"]),
    ({"layer": "predictions"}, ValueError, ["predictions", "dense", "convolutional"]),
])
def test_bad_inputs_name_the_argument_the_value_and_the_fix(conv_net, arguments, error, words):
    call = {"model": conv_net, "layer": "conv2", "filters": [0], "image": photo(), "steps": 2, **arguments}
    with pytest.raises(error) as raised:
        accentuate(**call)
    for word in words:
        assert word in str(raised.value)
