"""The widget on a user's own small fixed-size nets: sizes it can run, grayscale tiles."""
from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from actmax_widgets import ActMaxWidget


@pytest.fixture(scope="module")
def mnist_like():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x), name="mnist_like")


@pytest.fixture(scope="module")
def cifar_like():
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(4, 3, activation="relu", name="conv1"), layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(6, 3, activation="relu", name="conv2"), layers.MaxPooling2D(name="pool2"),
        layers.Flatten(name="flatten"), layers.Dense(10, activation="softmax", name="probs"),
    ], name="cifar_like")


@pytest.fixture(scope="module")
def any_size_head():
    """Global pooling before the head: every layer runs at any size."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((24, 24, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x), name="any_size_head")


def quick(widget):
    widget.controls.steps.value = 3
    widget.controls.precision.value = "float32"
    return widget


def tile_pixels(widget):
    return [np.asarray(Image.open(io.BytesIO(png))) for png in widget.grid.tiles]


def test_mnist_like_net_runs_with_the_default_settings_at_its_own_size(mnist_like):
    widget = quick(ActMaxWidget(mnist_like, prepare=False))
    assert widget.controls.image_size.value == 28
    widget.run(blocking=True)
    assert widget.images.shape[1:] == (28, 28, 1)


def test_dense_layer_after_flatten_runs_and_its_grayscale_tiles_are_gray(mnist_like, tmp_path):
    widget = quick(ActMaxWidget(mnist_like, layer="logits", prepare=False))
    widget.run(blocking=True)
    images = widget.images
    assert images.shape == (10, 28, 28, 1) and images.std() > 0
    tiles = tile_pixels(widget)
    assert len(tiles) == 10
    for tile, image in zip(tiles, images):
        # A gray RGB picture (what every browser shows as gray), pixel for pixel the image.
        assert tile.shape == (28, 28, 3)
        assert np.array_equal(tile[..., 0], image[..., 0])
        assert np.array_equal(tile[..., 1], tile[..., 0]) and np.array_equal(tile[..., 2], tile[..., 0])
    grid = widget.result.grid()
    assert grid.ndim == 3 and grid.shape[-1] == 3
    assert np.array_equal(grid[..., 0], grid[..., 1]) and np.array_equal(grid[..., 1], grid[..., 2])
    saved = np.asarray(Image.open(widget.save(tmp_path / "grid.png")).convert("RGB"))
    assert np.array_equal(saved[..., 0], saved[..., 2])


def test_cifar_like_softmax_output_runs_with_the_default_settings(cifar_like):
    widget = quick(ActMaxWidget(cifar_like, layer="probs", prepare=False))
    assert widget.controls.image_size.value == 32
    widget.run(blocking=True)
    assert widget.images.shape == (10, 32, 32, 3)


def test_switching_layers_offers_the_sizes_each_layer_runs_at(cifar_like):
    controls = ActMaxWidget(cifar_like, layer="conv1", prepare=False).controls
    assert (controls.image_size.min, controls.image_size.value) == (8, 32)
    controls.image_size.value = 48  # typed: any size a convolution runs at
    assert controls.preset.value == "custom"
    controls.preset.value = "quick preview"
    controls.layer.value = "probs"
    assert controls.image_size.value == 32 and controls.image_size.min == controls.image_size.max == 32
    assert "32×32 px only" in controls.image_sizes.note.value and "flatten" in controls.image_sizes.note.value
    assert controls.preset.value == "quick preview"  # the layer moved the size, not the user
    controls.preset.value = "workshop quality"  # a preset never picks a size the layer cannot run
    assert controls.request().image_size == 32
    controls.layer.value = "conv1"
    assert controls.image_size.value == 32 and controls.image_size.max > 32


def test_a_size_typed_in_the_box_is_the_size_that_runs(any_size_head):
    widget = quick(ActMaxWidget(any_size_head, layer="conv", prepare=False))
    widget.controls.image_size.value = 40
    widget.run(blocking=True)
    assert widget.images.shape[1:3] == (40, 40)


def test_any_size_the_model_runs_is_accepted_from_code(any_size_head, mnist_like):
    widget = quick(ActMaxWidget(any_size_head, image_size=32, prepare=False))
    assert widget.controls.image_size.value == 32
    widget.run(blocking=True)
    assert widget.images.shape[1:3] == (32, 32)
    assert ActMaxWidget(mnist_like, layer="conv", image_size=36, prepare=False).controls.image_size.value == 36
    # numpy integers are integers (a size computed with numpy)
    assert ActMaxWidget(mnist_like, layer="conv", image_size=np.int64(40), prepare=False).controls.image_size.value == 40


def test_a_size_the_layer_cannot_run_is_a_clear_error(mnist_like):
    with pytest.raises(ValueError) as error:
        ActMaxWidget(mnist_like, layer="logits", image_size=32, prepare=False)
    message = str(error.value)
    assert "image_size=32" in message and "28×28 px only" in message and "image_size=28" in message
