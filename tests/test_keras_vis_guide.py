"""keras-vis's activation-maximization guide on Keras 3, with only the imports changed.

The code follows keras-vis's docs page and its MNIST / VGG16 notebooks: ``from vis.utils import
utils`` became ``from actmax_widgets import utils`` and so on. Two differences that are not the
API: the models are tiny and untrained (16 px, seconds on a CPU), and ``max_iter`` is lowered
from the guide's 200/500 where the default would make the suite slow.
"""
import warnings

import keras
import numpy as np
import pytest
from keras import activations
from keras.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from keras.models import Model, Sequential
from PIL import Image

from actmax_widgets import utils
from actmax_widgets.callbacks import GifGenerator
from actmax_widgets.input_modifiers import Jitter
from actmax_widgets.losses import ActivationMaximization
from actmax_widgets.optimizer import Optimizer
from actmax_widgets.regularizers import LPNorm, TotalVariation
from actmax_widgets.visualization import (get_num_filters, visualize_activation,
                                          visualize_activation_with_losses)
from core_helpers import noise_images, zero_mean_kernels

num_classes = 4
input_shape = (16, 16, 1)


@pytest.fixture
def model():
    """The MNIST notebook's model (smaller), built as the notebook builds it."""
    keras.utils.set_random_seed(0)
    model = Sequential()
    with warnings.catch_warnings():  # Keras 3 prefers keras.Input to input_shape=; both work
        warnings.simplefilter("ignore", UserWarning)
        model.add(Conv2D(8, kernel_size=(3, 3), activation='relu', input_shape=input_shape))
    model.add(Conv2D(8, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(16, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation='softmax', name='preds'))
    return zero_mean_kernels(model)


@pytest.fixture
def vgg_like():
    """A functional model with VGG16's layer names (the guide's VGG16 examples)."""
    keras.utils.set_random_seed(1)
    img_input = Input(shape=(16, 16, 3))
    x = Conv2D(8, (3, 3), activation='relu', padding='same', name='block1_conv1')(img_input)
    x = Conv2D(8, (3, 3), activation='relu', padding='same', name='block1_conv2')(x)
    x = MaxPooling2D((2, 2), name='block1_pool')(x)
    x = Flatten(name='flatten')(x)
    x = Dense(num_classes, activation='softmax', name='predictions')(x)
    return zero_mean_kernels(Model(img_input, x, name='vgg16'))


def _logits(model, images):
    return np.asarray(model(np.asarray(images, dtype="float32")))


def test_dense_layer_visualization_with_softmax_swapped_for_linear(model):
    # Utility to search for layer index by name.
    # Alternatively we can specify this as -1 since it corresponds to the last layer.
    layer_idx = utils.find_layer_idx(model, 'preds')

    # Swap softmax with linear
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)

    # This is the output node we want to maximize.
    filter_idx = 0
    img = visualize_activation(model, layer_idx, filter_indices=filter_idx, max_iter=50)
    assert img.shape == (16, 16, 1) and img.dtype == np.uint8

    # "The input to network is preprocessed to range (0, 1)": say so, and drop the regularizers.
    img = visualize_activation(model, layer_idx, filter_indices=filter_idx, input_range=(0., 1.),
                               tv_weight=0., lp_norm_weight=0., max_iter=50)
    assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.0

    vis_images = []
    for output_idx in np.arange(num_classes):
        img = visualize_activation(model, layer_idx, filter_indices=output_idx, input_range=(0., 1.),
                                   tv_weight=0., lp_norm_weight=0., max_iter=50)
        vis_images.append(img)
    # Each class's logit is highest on the image made for that class.
    logits = _logits(model, np.stack(vis_images))  # linear now: logits
    assert logits.argmax(axis=0).tolist() == list(range(num_classes))
    stitched = utils.stitch_images(vis_images, cols=num_classes)
    assert stitched.shape == (16, 4 * 16 + 3 * 5, 1)


def test_visualizations_without_swapping_softmax(model):
    layer_idx = utils.find_layer_idx(model, 'preds')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)

    # Swap linear back with softmax
    model.layers[layer_idx].activation = activations.softmax
    model = utils.apply_modifications(model)
    probabilities = _logits(model, noise_images(input_shape, 2))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    img = visualize_activation(model, layer_idx, filter_indices=2, input_modifiers=[Jitter(2)], max_iter=30)
    assert img.shape == (16, 16, 1)


def test_verbose_shows_the_losses_of_every_step(model, capsys):
    layer_idx = utils.find_layer_idx(model, 'preds')
    img = visualize_activation(model, layer_idx, filter_indices=0, max_iter=20, verbose=True)
    assert img.shape == (16, 16, 1)
    out = capsys.readouterr().out
    assert out.count("Iteration: ") == 20 and "Iteration: 20," in out
    for name in ("ActivationMax Loss", "L-6.0 Norm Loss", "TV(2.0) Loss"):
        assert out.count(name) == 20


def test_jitter_for_crisper_results(vgg_like):
    model = vgg_like
    layer_idx = utils.find_layer_idx(model, 'predictions')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)

    # Jitter 2 pixels along all dimensions during the optimization process.
    img = visualize_activation(model, layer_idx, filter_indices=1, max_iter=40, input_modifiers=[Jitter(2)],
                               tv_weight=0., lp_norm_weight=0.)
    plain = visualize_activation(model, layer_idx, filter_indices=1, max_iter=40, tv_weight=0., lp_norm_weight=0.)
    assert img.shape == (16, 16, 3) and not np.array_equal(img, plain)
    # Still an image of class 1: its logit beats the other classes' images.
    others = [visualize_activation(model, layer_idx, filter_indices=k, max_iter=40, input_modifiers=[Jitter(2)],
                                   tv_weight=0., lp_norm_weight=0.) for k in (0, 2)]
    logits = _logits(model, np.stack([img] + others))
    assert logits[0, 1] > logits[1:, 1].max()


def test_conv_filter_visualization(vgg_like):
    model = vgg_like
    # The name of the layer we want to visualize
    layer_name = 'block1_conv2'
    layer_idx = utils.find_layer_idx(model, layer_name)

    # Visualize all filters in this layer.
    filters = np.arange(get_num_filters(model.layers[layer_idx]))
    assert filters.tolist() == list(range(8))

    # Generate input image for each filter.
    vis_images = []
    for idx in filters[:4]:
        # We will jitter 5% relative to the image size.
        img = visualize_activation(model, layer_idx, filter_indices=idx, tv_weight=0.,
                                   input_modifiers=[Jitter(0.05)], max_iter=30)
        raw = img
        # Utility to overlay text on image.
        img = utils.draw_text(img, 'Filter {}'.format(idx))
        assert img.shape == raw.shape and not np.array_equal(img, raw)
        vis_images.append(img)

    # Generate stitched image palette with 8 cols.
    stitched = utils.stitch_images(vis_images, cols=8)
    assert stitched.shape == (16, 4 * 16 + 3 * 5, 3)

    # Each image raises its filter far above a noise image.
    probe = Model(model.input, model.layers[layer_idx].output)
    on_noise = np.asarray(probe(noise_images((16, 16, 3), 1))).mean(axis=(0, 1, 2))
    for idx, img in zip(filters[:4], vis_images):
        reached = np.asarray(probe(img[None].astype("float32")))[..., idx].mean()
        assert reached > 2 * on_noise[idx]

    # Lets take a specific output from here and use it as a `seed_input` with total_variation
    # enabled this time.
    new_vis_images = []
    for i, idx in enumerate(filters[:2]):
        img = visualize_activation(model, layer_idx, filter_indices=idx, seed_input=vis_images[i],
                                   input_modifiers=[Jitter(0.05)], max_iter=20)
        new_vis_images.append(img)
    assert all(img.shape == (16, 16, 3) for img in new_vis_images)
    # Seeded runs start from the seed: the result resembles it more than another filter's seed.
    first = new_vis_images[0].astype(float).ravel()
    assert np.corrcoef(first, vis_images[0].astype(float).ravel())[0, 1] > \
        np.corrcoef(first, vis_images[1].astype(float).ravel())[0, 1]


def test_regression_output_decreased_with_negate():
    keras.utils.set_random_seed(2)
    inputs = Input(shape=(16, 16, 3))
    x = Conv2D(4, (3, 3), activation='relu', name='conv')(inputs)
    x = Flatten()(x)
    outputs = Dense(1, name='regression')(x)
    model = zero_mean_kernels(Model(inputs, outputs))

    # Regression models usually do not provide enough gradient information to generate
    # meaningful input images. Try seeding the input using `seed_input`.
    seed_input = noise_images((16, 16, 3), seed=5)[0]
    layer_idx = utils.find_layer_idx(model, 'regression')
    increased = visualize_activation(model, layer_idx, filter_indices=0, seed_input=seed_input, max_iter=40)
    decreased = visualize_activation(model, layer_idx, filter_indices=0, seed_input=seed_input, max_iter=40,
                                     grad_modifier='negate')
    outputs = _logits(model, np.stack([increased, decreased]))[:, 0]
    assert outputs[1] < outputs[0]


def test_custom_weighted_losses_and_an_animated_gif(vgg_like, tmp_path, capsys):
    model = vgg_like
    # The name of the layer we want to visualize
    # (see model definition in vggnet.py)
    layer_name = 'predictions'
    layer_dict = dict([(layer.name, layer) for layer in model.layers[1:]])
    output_class = [2]

    losses = [
        (ActivationMaximization(layer_dict[layer_name], output_class), 2),
        (LPNorm(model.input), 10),
        (TotalVariation(model.input), 10)
    ]
    opt = Optimizer(model.input, losses)
    img, grads, wrt_value = opt.minimize(max_iter=10, verbose=True, input_modifiers=[Jitter()],
                                         callbacks=[GifGenerator(str(tmp_path / 'opt_progress'))])
    assert img.shape == (16, 16, 3) and grads.shape == wrt_value.shape == (1, 16, 16, 3)
    assert capsys.readouterr().out.count("Iteration: ") == 10
    with Image.open(tmp_path / 'opt_progress.gif') as gif:
        assert gif.n_frames > 1

    # The same losses through the research API.
    filter_indices = [1, 2, 3]
    losses = [
        (ActivationMaximization(layer_dict['block1_conv2'], filter_indices), 1),
        (LPNorm(model.input), 10),
        (TotalVariation(model.input), 10)
    ]
    img = visualize_activation_with_losses(model.input, losses, max_iter=10)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8


def test_multiple_categories_in_one_image(model):
    layer_idx = utils.find_layer_idx(model, 'preds')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)
    # What might a "1-and-3" look like?
    img = visualize_activation(model, layer_idx, filter_indices=[1, 3], input_range=(0., 1.),
                               tv_weight=0., lp_norm_weight=0., max_iter=50)
    singles = [visualize_activation(model, layer_idx, filter_indices=k, input_range=(0., 1.),
                                    tv_weight=0., lp_norm_weight=0., max_iter=50) for k in (0, 2)]
    logits = _logits(model, np.stack([img] + singles))
    joint = logits[:, 1] + logits[:, 3]
    assert joint[0] > joint[1:].max()


@pytest.mark.parametrize("backprop_modifier", ["relu", "guided"])
def test_advanced_usage_backprop_modifier(model, backprop_modifier):
    layer_idx = utils.find_layer_idx(model, 'preds')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)
    img = visualize_activation(model, layer_idx, filter_indices=0, backprop_modifier=backprop_modifier,
                               input_range=(0., 1.), tv_weight=0., lp_norm_weight=0., max_iter=30)
    start = noise_images(input_shape, seed=0, input_range=(0., 1.))
    assert _logits(model, img[None])[0, 0] > _logits(model, start)[0, 0]
