"""Tiny models for the core's tests (16-32 px, a few conv layers: each test runs in seconds).

Convolution kernels are made zero-mean per filter: on keras-vis's (0, 255) input range an
untrained kernel with a positive sum responds to brightness alone and one with a negative sum is
dead from the first step. Zero-mean kernels respond to patterns, like trained ones.

Fixtures
--------
``conv_net``            Functional, channels-last: conv1 -> conv2 (ReLU) -> GAP -> predictions (softmax)
``sequential_conv_net`` the same layers and weights as a ``keras.Sequential``
``channels_first_net``  the same weights, channels-first layers: ``(B, 3, 16, 16)`` input
``any_size_net``        input ``(None, None, 3)``
``conv1d_net``          input ``(32, 2)``: Conv1D -> Conv1D -> GAP -> Dense
``regression_net``      a conv net with one linear output unit
``data_format``         a setter of keras's global image data format, restored after the test
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels  # noqa: E402


@pytest.fixture
def conv_net():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "conv_net"))


@pytest.fixture
def sequential_conv_net(conv_net):
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3))] + conv_layers(), name="sequential_conv_net")
    model.set_weights(conv_net.get_weights())
    return model


@pytest.fixture
def channels_first_net(conv_net):
    model = functional((3, SIZE, SIZE), conv_layers("channels_first"), "channels_first_net")
    model.set_weights(conv_net.get_weights())  # conv kernels are (kh, kw, in, out) in both formats
    return model


@pytest.fixture
def any_size_net():
    keras.utils.set_random_seed(1)
    return zero_mean_kernels(functional((None, None, 3), conv_layers()[:3], "any_size_net"))


@pytest.fixture
def conv1d_net():
    keras.utils.set_random_seed(2)
    layers = [
        keras.layers.Conv1D(6, 3, padding="same", activation="relu", name="conv1d_1"),
        keras.layers.Conv1D(6, 3, activation="relu", name="conv1d_2"),
        keras.layers.GlobalAveragePooling1D(name="pool"),
        keras.layers.Dense(3, name="out"),
    ]
    return zero_mean_kernels(functional((32, 2), layers, "conv1d_net"))


@pytest.fixture
def regression_net():
    keras.utils.set_random_seed(3)
    layers = [
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(1, name="regression"),
    ]
    return zero_mean_kernels(functional((SIZE, SIZE, 3), layers, "regression_net"))


@pytest.fixture
def data_format():
    """``data_format('channels_first')`` sets keras's global image data format for one test (as
    keras-vis's ``utils.slicer`` and default channel axes read it); restored afterwards."""
    before = keras.config.image_data_format()
    yield keras.config.set_image_data_format
    keras.config.set_image_data_format(before)


def pytest_collection_modifyitems(items):
    """Mark the tests that run channels-first convolutions (``-m channels_first``).

    TensorFlow switches oneDNN off on AMD CPUs, and its default CPU kernels then compute
    channels-last convolutions only; ``make test-python`` runs these tests in a second pytest
    process with ``TF_ENABLE_ONEDNN_OPTS=1`` (the default on Intel CPUs). The rest run with
    TensorFlow's own defaults for the machine, as a user's code does; there a channels-first
    model gets the clear error test_user_models checks.
    """
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "channels_first_net" in item.fixturenames or {"channels_first", "channels_first_net"} & {
                str(value) for value in params.values()}:
            item.add_marker("channels_first")
