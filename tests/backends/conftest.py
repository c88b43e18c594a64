"""The backend suite's fixtures: tiny nets built once per module, on whichever Keras backend this
process runs (``KERAS_BACKEND``; ``make test-backends`` runs the suite once per backend, each in
its own process). Nothing here imports TensorFlow: under JAX or PyTorch the suite checks that the
package runs without it. ``tests/conftest.py`` (imported first) imports only keras and helpers.

Weights are drawn with NumPy, not Keras's initializers (whose draws differ per backend), so that
every backend tests the same nets and can be compared with TensorFlow's images.
"""
import keras
import numpy as np
import pytest

from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels


def numpy_weights(model, seed):
    """Glorot-uniform kernels and zero biases from NumPy's generator, then zero-mean kernels."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            kernel, *rest = weights
            limit = np.sqrt(6 / (np.prod(kernel.shape[:-1]) + kernel.shape[-1]))
            layer.set_weights([rng.uniform(-limit, limit, kernel.shape).astype("float32")]
                              + [np.zeros_like(w) for w in rest])
    return zero_mean_kernels(model)


def backend_net():
    return numpy_weights(functional((SIZE, SIZE, 3), conv_layers(), "backend_net"), seed=0)


@pytest.fixture(scope="module")
def net():
    """conv1 -> conv2 (8 ReLU filters) -> GAP -> softmax, 16 px, channels-last."""
    return backend_net()


@pytest.fixture(scope="module")
def regression():
    """A conv net with one linear output unit (something to lower)."""
    layers = [
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(1, name="regression"),
    ]
    return numpy_weights(functional((SIZE, SIZE, 3), layers, "backend_regression"), seed=3)


@pytest.fixture(scope="module")
def channels_first_net(net):
    """``net``'s weights in channels-first layers, input (3, 16, 16). Its name marks the tests that
    use it ``channels_first`` (tests/conftest.py): on TensorFlow they run in the oneDNN pass."""
    model = functional((3, SIZE, SIZE), conv_layers("channels_first"), "backend_channels_first")
    model.set_weights(net.get_weights())
    return model
