"""Graph transforms: shape kept, per-sample draws, deterministic, batched equals one at a time."""
import numpy as np
import pytest
import tensorflow as tf

import ops_backend_checks
from actmax_widgets import transforms
from actmax_widgets.sample_random import SampleRandom, sample_keys
from actmax_widgets.visualization import visualize_filters

ALL = {
    "pad": transforms.pad(3),
    "jitter crop": transforms.jitter(4),
    "jitter wrap": transforms.jitter(4, mode="wrap"),
    "scale": transforms.random_scale([0.8, 0.9, 1.1, 1.25]),
    "rotate": transforms.random_rotate(15),
    "rotate choices": transforms.random_rotate([-10, -5, 5, 10]),
    "lucid": transforms.LUCID,
    "standard": transforms.STANDARD,
    "light": transforms.LIGHT,
    "compose resize": transforms.compose(transforms.pad(4), transforms.jitter(3), fit="resize"),
}


def _images(batch, height=24, width=20, channels=3):
    smooth = np.random.default_rng(0).uniform(0, 255, (1, height // 4, width // 4, channels))
    image = tf.image.resize(smooth.astype("float32"), (height, width), method="bicubic")
    return tf.repeat(image, batch, axis=0)  # the same image in every sample


def _random(seed, targets, step):
    return SampleRandom(sample_keys(seed, targets), step)


@pytest.mark.parametrize("name", ALL)
def test_shape_kept(name):
    for shape in [(24, 20, 3), (17, 31, 1)]:
        images = _images(3, *shape)
        assert ALL[name].transform(images, _random(0, [0, 1, 2], 0)).shape == images.shape


@pytest.mark.parametrize("name", [n for n in ALL if n != "pad"])
def test_samples_get_different_draws(name):
    out = ALL[name].transform(_images(4), _random(0, [0, 1, 2, 3], 5)).numpy()
    differ = [not np.allclose(out[0], out[k], atol=1e-3) for k in (1, 2, 3)]
    assert any(differ)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_and_batched_equals_one_at_a_time(name):
    transform, images = ALL[name], _images(3)
    batched = transform.transform(images, _random(4, [0, 1, 2], 7)).numpy()
    again = transform.transform(images, _random(4, [0, 1, 2], 7)).numpy()
    np.testing.assert_array_equal(batched, again)
    for k in range(3):
        alone = transform.transform(images[k:k + 1], _random(4, [k], 7)).numpy()
        np.testing.assert_allclose(batched[k:k + 1], alone, atol=1e-4)


def test_draws_change_with_the_step():
    images = _images(2)
    first = transforms.LUCID.transform(images, _random(0, [0, 1], 0)).numpy()
    later = transforms.LUCID.transform(images, _random(0, [0, 1], 1)).numpy()
    assert not np.allclose(first, later)


def test_identity_settings_change_nothing():
    images = _images(2)
    random = _random(0, [0, 1], 0)
    for transform in (transforms.random_scale([1.0]), transforms.random_rotate([0]), transforms.jitter(0),
                      transforms.pad(5)):
        np.testing.assert_allclose(transform.transform(images, random).numpy(), images.numpy(), atol=1e-3)


def test_rotation_by_90_degrees_is_exact():
    images = _images(1, 21, 21)
    rotated = transforms.random_rotate([90]).transform(images, _random(0, [0], 0)).numpy()
    np.testing.assert_allclose(np.rot90(rotated[0], k=-1), images.numpy()[0], atol=1e-3)


def test_gradients_flow_through_the_chain():
    images = tf.Variable(_images(2))
    with tf.GradientTape() as tape:
        out = transforms.LUCID.transform(images, _random(0, [0, 1], 3))
        loss = tf.reduce_sum(out * out)
    grads = tape.gradient(loss, images)
    assert np.isfinite(grads.numpy()).all() and np.abs(grads.numpy()).sum() > 0


def test_repeated_transform_in_compose_draws_independently():
    chain = transforms.compose(transforms.jitter(6, "wrap"), transforms.jitter(6, "wrap"))
    images = _images(16)
    random = _random(0, list(range(16)), 0)
    one = transforms.jitter(6, "wrap").transform(images, random).numpy()
    two = chain.transform(images, random).numpy()
    assert not np.allclose(one, two)


def test_repr_names_settings_so_equal_transforms_share_a_compiled_step():
    assert repr(transforms.compose(transforms.pad(2), transforms.jitter(1))) == \
        repr(transforms.compose(transforms.pad(2), transforms.jitter(1)))


def test_errors_are_readable():
    with pytest.raises(ValueError, match="mode"):
        transforms.jitter(2, mode="bounce")
    with pytest.raises(ValueError, match="positive"):
        transforms.random_scale([0.0])
    with pytest.raises(ValueError, match="nothing"):
        transforms.jitter(30).transform(_images(1), _random(0, [0], 0))


def test_plugs_into_visualize_filters(conv_net):
    result = visualize_filters(conv_net, "conv2", [0, 3], max_iter=8, seed=1,
                               input_modifiers=[transforms.LIGHT])
    assert result.images.shape == (2, 16, 16, 3)
    assert np.isfinite(result.activation_history).all()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_same_seed_gives_the_same_images_on_jax_and_torch_as_on_tensorflow(backend):
    # Every transform (pads, jitters, scale, rotation, Lucid's chain, fit/resize) of the same
    # images with the same keys, run in a fresh process on that backend (jax: under jax.jit),
    # and the gradient through Lucid's chain.
    theirs = ops_backend_checks.under(backend)
    assert str(theirs["draws tensor type"]).startswith(backend)  # computed by that backend
    ops_backend_checks.assert_same(theirs, ops_backend_checks.outputs(), "transform ")
