"""What can be visualized in a model, and validating requests before any computation."""
import keras
import numpy as np
import pytest

from actmax_widgets import catalogue
from actmax_widgets.visualization import get_num_filters
from core_helpers import SIZE


def test_visualizable_layers_of_a_conv_net(conv_net):
    infos = catalogue.visualizable_layers(conv_net)
    assert [(i.name, i.kind, i.n_filters) for i in infos] == [
        ("conv1", "conv2d", 8), ("conv2", "conv2d", 8), ("predictions", "dense", 4)]
    conv2 = infos[1]
    assert conv2.index == 2 and conv2.class_name == "Conv2D"
    assert conv2.output_shape == (None, SIZE - 2, SIZE - 2, 8)
    assert conv2.channel_axis == 3 and conv2.spatial_axes == (1, 2)
    assert conv2.description == "conv2 — conv 8 ch"
    assert infos[2].description == "predictions — dense 4 units"


def test_channels_first_and_sequential_and_conv1d(channels_first_net, sequential_conv_net, conv1d_net):
    assert catalogue.model_is_channels_first(channels_first_net)
    info = catalogue.describe_layer(channels_first_net, "conv2")
    assert info.channel_axis == 1 and info.n_filters == 8 and info.spatial_axes == (2, 3)
    assert not catalogue.model_is_channels_first(sequential_conv_net)
    assert [i.name for i in catalogue.visualizable_layers(sequential_conv_net)] == ["conv1", "conv2", "predictions"]
    assert catalogue.describe_layer(sequential_conv_net, 1).name == "conv2"  # Sequential: no InputLayer
    conv1d = catalogue.describe_layer(conv1d_net, "conv1d_2")
    assert conv1d.kind == "conv1d" and conv1d.n_filters == 6 and conv1d.channel_axis == 2


def test_describe_layer_by_index_name_or_object(conv_net):
    by_index = catalogue.describe_layer(conv_net, 2)
    assert by_index == catalogue.describe_layer(conv_net, "conv2")
    assert by_index == catalogue.describe_layer(conv_net, conv_net.get_layer("conv2"))
    assert catalogue.describe_layer(conv_net, -1).name == "predictions"
    with pytest.raises(TypeError, match="Expected a layer index, name"):
        catalogue.describe_layer(conv_net, 2.0)
    with pytest.raises(ValueError, match="layer_idx -6 is out of range"):
        catalogue.describe_layer(conv_net, -6)


def test_layers_that_only_reshape_are_refused_with_a_reason(conv_net):
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    assert [i.name for i in catalogue.visualizable_layers(model)] == ["conv", "dense"]
    for name, cls in (("drop", "Dropout"), ("flat", "Flatten")):
        with pytest.raises(ValueError, match=f"'{name}' \\({cls}\\) only reshapes"):
            catalogue.describe_layer(model, name)


def test_subclassed_and_multi_input_models_are_refused_up_front():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match="Rebuild it as a functional model"):
        catalogue.visualizable_layers(net)
    a, b = keras.Input((3,)), keras.Input((3,))
    two = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="2 inputs"):
        catalogue.visualizable_layers(two)


def test_default_layer_is_a_mid_depth_activation():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for i in range(5):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"conv{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(x)))
    assert catalogue.default_layer(model).name == "relu2"
    dense_only_in = keras.Input((5,))
    dense_only = keras.Model(dense_only_in, keras.layers.Dense(3, name="out")(dense_only_in))
    assert catalogue.default_layer(dense_only).name == "out"


def test_check_filter_indices(conv_net):
    info = catalogue.describe_layer(conv_net, "conv2")
    assert catalogue.check_filter_indices(info, None) == list(range(8))
    assert catalogue.check_filter_indices(info, 3) == [3]
    assert catalogue.check_filter_indices(info, [1, [2, 7], np.int64(4)]) == [1, [2, 7], 4]
    assert catalogue.check_filter_indices(info, np.array([0, 5])) == [0, 5]
    assert catalogue.check_filter_indices(info, range(2, 5)) == [2, 3, 4]  # the README's range(8)
    with pytest.raises(ValueError, match=r"Filter index 8 is out of range for layer 'conv2'.*0\.\.7"):
        catalogue.check_filter_indices(info, [1, [2, 8]])
    with pytest.raises(TypeError, match="not an integer"):
        catalogue.check_filter_indices(info, [1.5])
    dense = catalogue.describe_layer(conv_net, "predictions")
    with pytest.raises(ValueError, match=r"Unit index 4 .*valid unit indices are 0\.\.3"):
        catalogue.check_filter_indices(dense, 4)


def test_parse_filter_spec():
    assert catalogue.parse_filter_spec("0-3, 5 7", 10) == [0, 1, 2, 3, 5, 7]
    assert catalogue.parse_filter_spec("all", 4) == [0, 1, 2, 3]
    assert catalogue.parse_filter_spec("", 3) == [0, 1, 2]
    assert catalogue.parse_filter_spec("2:4,3", 10) == [2, 3, 4]
    with pytest.raises(ValueError, match="runs backwards: write it as 2-5"):
        catalogue.parse_filter_spec("5-2", 10)
    with pytest.raises(ValueError, match=r"'8-12' goes past the last filter: valid indices are 0\.\.9"):
        catalogue.parse_filter_spec("8-12", 10)
    with pytest.raises(ValueError, match="Can't read 'x'"):
        catalogue.parse_filter_spec("1, x", 10)


def test_get_num_filters_as_keras_vis(conv_net, channels_first_net, conv1d_net):
    assert get_num_filters(conv_net.get_layer("conv2")) == 8
    assert get_num_filters(conv_net.get_layer("predictions")) == 4
    assert get_num_filters(channels_first_net.get_layer("conv1")) == 8
    assert get_num_filters(conv1d_net.get_layer("conv1d_1")) == 6
