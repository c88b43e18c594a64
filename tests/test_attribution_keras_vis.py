"""keras-vis's saliency / CAM API: names, signatures, defaults, wrt_tensor, and its MNIST attention
example running with only the imports changed."""
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import actmax_widgets
from actmax_widgets import saliency_maps
from actmax_widgets.losses import ActivationMaximization
from actmax_widgets.utils import utils
from actmax_widgets.visualization import (overlay, visualize_activation, visualize_cam, visualize_cam_with_losses,
                                          visualize_saliency, visualize_saliency_with_losses)


def _defaults(function):
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_names_signatures_and_defaults_are_keras_vis():
    assert list(inspect.signature(visualize_saliency).parameters) == [
        "model", "layer_idx", "filter_indices", "seed_input", "wrt_tensor", "backprop_modifier", "grad_modifier",
        "keepdims"]
    assert _defaults(visualize_saliency) == {"wrt_tensor": None, "backprop_modifier": None,
                                             "grad_modifier": "absolute", "keepdims": False}
    assert list(inspect.signature(visualize_cam).parameters) == [
        "model", "layer_idx", "filter_indices", "seed_input", "penultimate_layer_idx", "backprop_modifier",
        "grad_modifier"]
    assert _defaults(visualize_cam) == {"penultimate_layer_idx": None, "backprop_modifier": None,
                                        "grad_modifier": None}
    assert list(inspect.signature(visualize_saliency_with_losses).parameters) == [
        "input_tensor", "losses", "seed_input", "wrt_tensor", "grad_modifier", "keepdims"]
    assert list(inspect.signature(visualize_cam_with_losses).parameters) == [
        "input_tensor", "losses", "seed_input", "penultimate_layer", "grad_modifier"]
    assert _defaults(overlay) == {"alpha": 0.5}
    assert actmax_widgets.visualize_cam is visualize_cam and actmax_widgets.overlay is overlay
    assert _defaults(utils.load_img) == {"grayscale": False, "target_size": None}
    assert _defaults(utils.normalize) == {"min_value": 0.0, "max_value": 1.0}


def test_utils_module_as_keras_vis(conv_net, tmp_path):
    from PIL import Image

    from actmax_widgets import utils as package_utils

    assert utils is package_utils and utils.utils is utils
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(tmp_path / "x.jpg")
    image = utils.load_img(tmp_path / "x.jpg", target_size=(16, 24))
    assert image.shape == (16, 24, 3) and image.dtype == np.uint8 and abs(int(image[5, 5, 0]) - 200) <= 2
    assert utils.load_img(tmp_path / "x.jpg", grayscale=True).shape == (30, 40)
    assert utils.lookup_imagenet_labels(285) == ["Egyptian cat"]
    assert utils.lookup_imagenet_labels([967, 285]) == ["espresso", "Egyptian cat"]
    np.testing.assert_allclose(utils.normalize(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1], atol=1e-6)
    np.testing.assert_allclose(utils.normalize(np.array([0.0, 1.0]), -1, 1), [-1, 1], atol=1e-6)
    assert utils.get_num_filters(conv_net.get_layer("conv2")) == 8
    assert list(utils.reverse_enumerate("abc")) == [(2, "c"), (1, "b"), (0, "a")]
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"'notes.txt' is not an image Pillow can read"):
        utils.load_img(tmp_path / "notes.txt")


def test_a_list_of_filters_is_one_joint_map_and_wrappers_match_the_batched_api(conv_net):
    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype("float32")
    joint = visualize_saliency(conv_net, -1, [1, 2], image)
    assert joint.shape == (16, 16)
    np.testing.assert_allclose(joint, saliency_maps(conv_net, "predictions", [[1, 2]], image, logits=False)[0])
    losses = [(ActivationMaximization(conv_net.get_layer("predictions"), [1, 2]), -1)]
    np.testing.assert_allclose(visualize_saliency_with_losses(conv_net.inputs[0], losses, image), joint, atol=1e-5)
    cam = visualize_cam(conv_net, -1, 2, image, penultimate_layer_idx=1)
    losses = [(ActivationMaximization(conv_net.get_layer("predictions"), [2]), -1)]
    np.testing.assert_allclose(visualize_cam_with_losses(conv_net.inputs[0], losses, image, conv_net.layers[1]), cam,
                               atol=1e-5)
    assert visualize_saliency(conv_net, -1, 1, image, keepdims=True).shape == (16, 16, 3)


def test_wrt_tensor_gives_the_gradient_at_that_layer(conv_net):
    image = np.random.default_rng(1).uniform(0, 255, (16, 16, 3)).astype("float32")
    conv1 = conv_net.get_layer("conv1")
    probe = keras.Model(conv_net.inputs[0], [conv1.output, conv_net.output])
    with tf.GradientTape() as tape:
        features, probabilities = probe(image[None])
        score = tf.reduce_sum(probabilities[:, 3])
    expected = utils.normalize(np.abs(tape.gradient(score, features).numpy()).max(-1))[0]
    by_layer = visualize_saliency(conv_net, -1, 3, image, wrt_tensor=conv1.output)
    assert by_layer.shape == (16, 16)
    np.testing.assert_allclose(by_layer, expected, atol=1e-4)
    losses = [(ActivationMaximization(conv_net.get_layer("predictions"), [3]), -1)]
    np.testing.assert_allclose(visualize_saliency_with_losses(conv_net.inputs[0], losses, image,
                                                              wrt_tensor=conv1.output), expected, atol=1e-4)
    # The input itself as wrt_tensor is the default.
    np.testing.assert_allclose(visualize_saliency(conv_net, -1, 3, image, wrt_tensor=conv_net.inputs[0]),
                               visualize_saliency(conv_net, -1, 3, image))
    guided = visualize_saliency(conv_net, -1, 3, image, wrt_tensor=conv1.output, backprop_modifier="guided")
    assert guided.shape == (16, 16)


def test_visualize_activation_with_wrt_tensor_as_keras_vis(conv_net):
    """keras-vis: the input is never updated; callbacks get the gradient at wrt_tensor each step."""
    seen = []

    class Record:
        def callback(self, i, named_losses, overall_loss, grads, wrt_value):
            seen.append((i, grads, wrt_value, overall_loss))

        def on_end(self):
            seen.append("end")

    seed = np.random.default_rng(2).uniform(0, 255, (16, 16, 3)).astype("float32")
    conv1 = conv_net.get_layer("conv1")
    image = visualize_activation(conv_net, "conv2", 4, wrt_tensor=conv1.output, seed_input=seed, max_iter=3,
                                 callbacks=[Record()])
    np.testing.assert_array_equal(image, utils.deprocess_input(seed))
    assert [entry[0] for entry in seen[:3]] == [0, 1, 2] and seen[-1] == "end"
    probe = keras.Model(conv_net.inputs[0], [conv1.output, conv_net.get_layer("conv2").output])
    with tf.GradientTape() as tape:
        features, target = probe(seed[None])
        activation = tf.reduce_mean(target[..., 4])
    # The gradient of the loss (minus the activation; the image penalties do not reach conv1).
    np.testing.assert_allclose(seen[0][1], -tape.gradient(activation, features).numpy(), rtol=1e-4, atol=1e-6)
    assert seen[0][2].shape == (1, 16, 16, 8)
    with pytest.raises(TypeError, match="wrt_tensor='conv1' is not a tensor of the model"):
        visualize_activation(conv_net, "conv2", 4, wrt_tensor="conv1", max_iter=1)


def test_bad_filter_indices_are_named_as_the_caller_wrote_them(conv_net):
    image = np.zeros((16, 16, 3), "float32")
    with pytest.raises(ValueError, match=r"filter_indices: Unit index 7 is out of range .* 0\.\.3"):
        visualize_saliency(conv_net, -1, 7, image)
    with pytest.raises(ValueError, match=r"filter_indices: Unit index 4 is out of range"):
        visualize_cam(conv_net, -1, [1, 4], image)


def test_overlay_as_keras_vis():
    a, b = np.full((2, 2, 3), 200, np.uint8), np.full((2, 2, 3), 100, np.uint8)
    blended = overlay(a, b)
    assert blended.dtype == np.uint8 and (blended == 150).all()
    assert (overlay(a, b, alpha=1.0) == 200).all()
    with pytest.raises(ValueError, match="alpha=1.5 is too large"):
        overlay(a, b, alpha=1.5)
    with pytest.raises(ValueError, match=r"array1 has shape \(2, 2, 3\) and array2 \(2, 2\)"):
        overlay(a, b[..., 0])


def test_keras_vis_mnist_attention_example_runs_with_only_the_imports_changed():
    """examples/mnist/attention.ipynb, its code as written (Sequential with input_shape, the
    softmax swapped for linear and back with apply_modifications), on synthetic digits (no
    download): blobs whose position is the class, one epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential
    from matplotlib import pyplot as plt

    keras.utils.set_random_seed(0)
    num_classes, img_rows, img_cols = 10, 28, 28
    rng = np.random.default_rng(0)
    labels = rng.integers(0, num_classes, 200)
    x_test = rng.uniform(0, 0.1, (200, img_rows, img_cols, 1)).astype("float32")
    for k, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        x_test[k, 4 + 10 * row:10 + 10 * row, 2 + 5 * col:6 + 5 * col, 0] = 1.0
    y_test = keras.utils.to_categorical(labels, num_classes)
    input_shape = (img_rows, img_cols, 1)

    # --- the example's model cell (training shortened) -------------------------------------
    model = Sequential()
    model.add(Conv2D(8, kernel_size=(3, 3), activation='relu', input_shape=input_shape))
    model.add(Conv2D(16, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(32, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation='softmax', name='preds'))
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.Adam(),
                  metrics=['accuracy'])
    model.fit(x_test, y_test, batch_size=64, epochs=1, verbose=0)

    # --- the example's attention cells, unchanged ------------------------------------------
    from actmax_widgets.visualization import visualize_saliency
    from actmax_widgets.utils import utils
    from keras import activations

    class_idx = 0
    indices = np.where(y_test[:, class_idx] == 1.)[0]
    idx = indices[0]
    layer_idx = utils.find_layer_idx(model, 'preds')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)
    grads = visualize_saliency(model, layer_idx, filter_indices=class_idx, seed_input=x_test[idx])
    plt.imshow(grads, cmap='jet')
    for modifier in ['guided', 'relu']:
        grads = visualize_saliency(model, layer_idx, filter_indices=class_idx,
                                   seed_input=x_test[idx], backprop_modifier=modifier)
        plt.figure()
        plt.title(modifier)
        plt.imshow(grads, cmap='jet')
    grads = visualize_saliency(model, layer_idx, filter_indices=class_idx, seed_input=x_test[idx],
                               backprop_modifier='guided', grad_modifier='negate')
    plt.imshow(grads, cmap='jet')
    from actmax_widgets.visualization import visualize_cam
    for class_idx in np.arange(3):
        indices = np.where(y_test[:, class_idx] == 1.)[0]
        idx = indices[0]
        f, ax = plt.subplots(1, 4)
        ax[0].imshow(x_test[idx][..., 0])
        for i, modifier in enumerate([None, 'guided', 'relu']):
            grads = visualize_cam(model, layer_idx, filter_indices=class_idx,
                                  seed_input=x_test[idx], backprop_modifier=modifier)
            if modifier is None:
                modifier = 'vanilla'
            ax[i + 1].set_title(modifier)
            ax[i + 1].imshow(grads, cmap='jet')
            assert grads.shape == (28, 28) and 0 <= grads.min() and grads.max() <= 1
    model.layers[layer_idx].activation = activations.softmax
    model = utils.apply_modifications(model)
    grads = visualize_saliency(model, layer_idx, filter_indices=class_idx,
                               seed_input=x_test[idx], backprop_modifier='guided')
    assert grads.shape == (28, 28)
    plt.close("all")
