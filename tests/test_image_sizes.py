"""image_sizes: the structural rule says which sizes a layer runs at; running the cut model agrees."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from actmax_widgets import catalogue, image_sizes, model_cut, model_facts, visualization


def mnist_like():
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x), name="mnist_like")


def cifar_like():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(4, 3, activation="relu", name="conv1"), layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(6, 3, activation="relu", name="conv2"), layers.MaxPooling2D(name="pool2"),
        layers.Flatten(name="flatten"), layers.Dense(8, activation="relu", name="fc"),
        layers.Dense(10, activation="softmax", name="probs"),
    ], name="cifar_like")


def residual_gap():
    """Residual block, BN, global pooling, dense head: every layer runs at any size."""
    inputs = keras.Input((24, 24, 3))
    x = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    y = layers.BatchNormalization(name="bn")(layers.Conv2D(4, 3, padding="same", name="branch")(x))
    x = layers.Activation("relu", name="add_relu")(layers.Add(name="add")([x, y]))
    x = layers.Concatenate(name="concat")([x, layers.AveragePooling2D(1, name="identity_pool")(x)])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x), name="residual_gap")


def valid_convs():
    """Valid convolutions and poolings shrink the image: small sizes leave nothing."""
    inputs = keras.Input((40, 40, 3))
    x = layers.Conv2D(4, 5, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(4, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    return keras.Model(inputs, layers.Conv2D(4, 3, name="conv3")(x), name="valid_convs")


def reshape_head():
    inputs = keras.Input((16, 16, 2))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = layers.Reshape((64, 16), name="tokens")(x)
    return keras.Model(inputs, layers.Dense(5, name="per_token")(x), name="reshape_head")


def resized_then_flatten():
    """Resizing first: the Flatten after it always sees 16 × 16, whatever comes in."""
    inputs = keras.Input((20, 20, 3))
    x = layers.Resizing(16, 16, name="resize")(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    return keras.Model(inputs, layers.Dense(4, name="fc")(layers.Flatten(name="flatten")(x)),
                       name="resized_then_flatten")


def nested_base():
    """A conv base model inside a classifier: the base is one layer of the outer model."""
    base_in = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="base_conv")(base_in)
    base = keras.Model(base_in, layers.MaxPooling2D(name="base_pool")(x), name="base")
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 1, name="after_base")(base(inputs))
    x = layers.Dense(6, name="fc")(layers.Flatten(name="flatten")(x))
    return keras.Model(inputs, x, name="nested_base")


ARCHITECTURES = [mnist_like, cifar_like, residual_gap, valid_convs, reshape_head, resized_then_flatten, nested_base]


def runs_at(model, layer, size):
    """Whether ``layer`` can really be visualized at ``size``: the model the library works on
    (nested models inlined), cut (and rebuilt) there, called on an image of that size, gives a
    non-empty output."""
    facts = model_facts.of(model)
    try:
        cut, _ = model_cut.cut_at(facts.working, facts.working_name(layer), size)
        output = cut(np.zeros((1, size, size, model.input_shape[-1]), "float32"))
    except Exception:  # noqa: BLE001 - any failure means "does not run"
        return False
    return all(side > 0 for side in output.shape)


@pytest.mark.parametrize("build", ARCHITECTURES, ids=lambda build: build.__name__)
def test_rule_agrees_with_running_the_cut_model(build):
    keras.utils.set_random_seed(0)
    model = build()
    own = model.input_shape[1]
    for info in catalogue.visualizable_layers(model):
        sizes = image_sizes.sizes_for(model, info.name)
        candidates = {own, 8, 48, own + 8}
        if not sizes.fixed:  # the edge of what fits (a fixed layer's min_side is its own size)
            candidates |= {sizes.min_side, sizes.min_side - 1} - {7}
        for size in sorted(candidates):
            assert sizes.accepts(size) == runs_at(model, info.name, size), (model.name, info.name, size)


def test_flatten_pins_the_dense_layers_not_the_convs_before_it():
    model = cifar_like()
    assert not image_sizes.sizes_for(model, "conv2").fixed
    fc = image_sizes.sizes_for(model, "fc")
    assert fc.fixed_by == "flatten" and fc.accepts(32) and not fc.accepts(64)
    assert "32×32 px only" in fc.describe() and "'flatten'" in fc.describe()
    assert image_sizes.sizes_for(model, "probs").fixed


def test_a_fixing_layer_inside_a_nested_model_is_named_with_its_model():
    inner_in = keras.Input((8, 8, 2))
    inner = keras.Model(inner_in, layers.Dense(3)(layers.Flatten(name="inner_flat")(inner_in)), name="inner")
    inputs = keras.Input((8, 8, 2))
    model = keras.Model(inputs, layers.Dense(2, name="out")(inner(inputs)))
    assert image_sizes.sizes_for(model, "out").fixed_by == "inner/inner_flat"


class Shift(layers.Layer):  # a user's own elementwise layer (e.g. preprocessing)
    def call(self, x):
        return x / 255.0 - 0.5


class FlattenOwn(layers.Layer):  # a user's own Flatten
    def call(self, x):
        return keras.ops.reshape(x, (keras.ops.shape(x)[0], -1))

    def compute_output_spec(self, x):
        return keras.KerasTensor((x.shape[0], int(np.prod(x.shape[1:]))), dtype=x.dtype)


class PixelBias(layers.Layer):  # one weight per input pixel
    def build(self, shape):
        self.bias = self.add_weight(shape=tuple(shape[1:]), initializer="zeros")

    def call(self, x):
        return x + self.bias


def test_a_users_own_layer_pins_the_size_only_when_its_shapes_depend_on_it():
    def model_with(custom):
        inputs = keras.Input((16, 16, 3))
        x = layers.Conv2D(2, 3, name="conv")(custom(inputs))
        return keras.Model(inputs, layers.Dense(2, name="out")(FlattenOwn(name="own_flatten")(x)))

    shift = model_with(Shift(name="shift"))
    assert image_sizes.sizes_for(shift, "conv").accepts(32)  # it used to pin 16 px only
    assert visualization.visualize_filters(shift, "conv", [0], max_iter=2, image_size=32).images.shape[1] == 32
    assert image_sizes.sizes_for(shift, "out").fixed_by == "own_flatten"
    pixel_bias = model_with(PixelBias(name="pixel_bias"))
    sizes = image_sizes.sizes_for(pixel_bias, "conv")
    assert sizes.fixed_by == "pixel_bias" and sizes.accepts(16) and not sizes.accepts(32)


def test_minimum_side_of_valid_convolutions():
    sizes = image_sizes.sizes_for(valid_convs(), "conv3")
    # 5x5 conv, /2, 5x5 conv, /2, 3x3 conv: 24 px leaves 1 x 1 (20, 10, 6, 3, 1), 23 px nothing.
    assert sizes.min_side == 24 and sizes.accepts(24) and not sizes.accepts(23)


def test_any_size_model_takes_every_size():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layers.Conv2D(2, 3, padding="same", name="conv")(inputs))
    sizes = image_sizes.sizes_for(model, "conv")
    assert sizes.accepts(8) and sizes.accepts(300) and sizes.suggest() == model_cut.DEFAULT_IMAGE_SIZE


def test_check_names_the_argument_value_and_what_works():
    sizes = image_sizes.sizes_for(mnist_like(), "logits")
    assert sizes.check(28) == 28
    with pytest.raises(ValueError) as error:
        sizes.check(32)
    message = str(error.value)
    assert "image_size=32" in message and "28×28 px only" in message and "image_size=28" in message


def test_start_size_is_the_models_own_when_smaller_than_the_preferred_one():
    model = cifar_like()
    assert image_sizes.sizes_for(model, "conv1").suggest(96) == 32
    assert image_sizes.sizes_for(model, "probs").suggest(96) == 32
    assert image_sizes.sizes_for(residual_gap(), "stem").suggest(16) == 16
    assert image_sizes.sizes_for(residual_gap(), "stem").suggest(128) == 24
