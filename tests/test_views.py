"""Several random views of each image per step (a transform's ``views``, e.g. MACO's crops): the
step's loss is the mean over the views, each view draws its own crop, and a batch of filters still
equals each filter alone."""
import functools

import keras
import numpy as np
import pytest
from keras import ops

from actmax_widgets import maco, styles, visualize_filters
from actmax_widgets.sample_random import SampleRandom, sample_keys
from core_helpers import channel_means, conv_layers, functional, zero_mean_kernels


@pytest.fixture(scope="module")
def net32():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((32, 32, 3), conv_layers(), "views_net32"))


def _canvas_recipe(views, **crops):
    return styles.MACO.replace(param=functools.partial(maco.MacoImage, canvas_scale=1.5),
                               transforms=(maco.maco_crops(canvas_scale=1.5, views=views, **crops),))


def test_each_view_draws_its_own_crop_and_a_samples_draws_do_not_depend_on_the_batch():
    keys = sample_keys(0, [0, 1, 2])
    step = SampleRandom(keys, 7)
    assert step.view(0) is step
    draws = [ops.convert_to_numpy(step.view(v).uniform(501, 4)) for v in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert np.abs(draws[a] - draws[b]).min() > 1e-6  # every view, every sample: new draws
    alone = ops.convert_to_numpy(SampleRandom(keys[1:2], 7).view(2).uniform(501, 4))
    np.testing.assert_array_equal(alone[0], draws[2][1])


def test_step_activation_is_the_mean_over_the_views_crops(net32):
    views, filters, seed = 3, [0, 3], 2
    result = visualize_filters(net32, "conv2", filters, max_iter=1, seed=seed, recipe=_canvas_recipe(views))
    # By hand: the start canvas, each view's crop (that view's draws at step 0), the mean activation.
    param = maco.MacoImage(canvas_scale=1.5)
    keys = sample_keys(seed, filters)
    canvas = param.to_image(param.init_params(keys, (48, 48, 3), (0, 255)))
    crops = maco.maco_crops(canvas_scale=1.5, views=views)
    seen = [ops.convert_to_numpy(crops.transform(canvas, SampleRandom(keys, 0).view(v))) for v in range(views)]
    per_view = np.stack([channel_means(net32, "conv2", crop)[np.arange(2), filters] for crop in seen])
    np.testing.assert_allclose(result.activation_history[0], per_view.mean(axis=0), rtol=1e-4, atol=1e-5)
    assert np.ptp(per_view, axis=0).min() > 1e-4  # the views differ: it is a mean, not one view


def test_identical_views_give_the_one_view_run(net32):
    # Crops without randomness: three views are three copies, so the mean gradient is one view's.
    still = dict(jitter=0.0, spread=0.0, noise=0.0)
    one = visualize_filters(net32, "conv2", [1, 4], max_iter=6, seed=1, recipe=_canvas_recipe(1, **still))
    three = visualize_filters(net32, "conv2", [1, 4], max_iter=6, seed=1, recipe=_canvas_recipe(3, **still))
    np.testing.assert_allclose(three.activation_history, one.activation_history, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(three.raw_images, one.raw_images, atol=1e-2)


def test_views_raise_the_activation_batched_equals_one_at_a_time(net32):
    recipe = _canvas_recipe(3)
    batched = visualize_filters(net32, "conv2", [0, 3, 5], max_iter=12, seed=4, recipe=recipe)
    history = batched.activation_history
    assert np.all(history[-3:].mean(axis=0) > history[:2].mean(axis=0)), history[[0, -1]]
    for row, index in enumerate([0, 3, 5]):
        alone = visualize_filters(net32, "conv2", [index], max_iter=12, seed=4, recipe=recipe)
        np.testing.assert_allclose(batched.raw_images[row], alone.raw_images[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(batched.alpha[row], alone.alpha[0], atol=1e-4)


def test_bad_views_say_what_to_do():
    with pytest.raises(ValueError, match="views.*0.*views=4"):
        maco.maco_crops(views=0)
    with pytest.raises(TypeError, match="views"):
        maco.maco_crops(views=2.5)
