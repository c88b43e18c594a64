"""Model builders and probes shared by the core's tests (fixtures are in ``conftest.py``)."""
import keras
import numpy as np

SIZE = 16
N_FILTERS = 8
N_CLASSES = 4


def zero_mean_kernels(model):
    """Subtract each conv filter's mean weight, so it responds to patterns, not brightness."""
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            kernel, *rest = layer.get_weights()
            layer.set_weights([kernel - kernel.mean(axis=tuple(range(kernel.ndim - 1)))] + rest)
    return model


def conv_layers(data_format="channels_last"):
    return [
        keras.layers.Conv2D(N_FILTERS, 3, padding="same", activation="relu", data_format=data_format,
                            name="conv1"),
        keras.layers.Conv2D(N_FILTERS, 3, activation="relu", data_format=data_format, name="conv2"),
        keras.layers.GlobalAveragePooling2D(data_format=data_format, name="pool"),
        keras.layers.Dense(N_CLASSES, activation="softmax", name="predictions"),
    ]


def functional(input_shape, layers, name):
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def channel_means(model, layer_name, images, channels_first=False):
    """Mean activation per channel of ``layer_name`` on ``images`` (in the model's layout): (B, C)."""
    layer = model.get_layer(layer_name)
    probe = keras.Model(model.inputs[0], layer.output)
    # convert_to_numpy: the output is a TF, JAX or torch tensor depending on the backend.
    out = keras.ops.convert_to_numpy(probe(np.asarray(images, "float32"), training=False))
    if out.ndim == 2:
        return out
    if channels_first:
        out = np.moveaxis(out, 1, -1)
    return out.reshape(out.shape[0], -1, out.shape[-1]).mean(axis=1)


def noise_images(shape, n=1, seed=0, input_range=(0, 255)):
    """keras-vis's starting point: Gaussian noise around the middle of the range (std 5%)."""
    low, high = input_range
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n,) + tuple(shape)) * 0.05 * (high - low) + (low + high) / 2).astype("float32")


def assert_batched_equals_one_at_a_time(visualize, net, layer, filters, **settings):
    """``visualize(net, layer, filters, **settings)`` in one batch gives each filter's images and
    activation history as a run of that filter alone."""
    batched = visualize(net, layer, filters, **settings)
    for row, index in enumerate(filters):
        alone = visualize(net, layer, [index], **settings)
        np.testing.assert_allclose(batched.raw_images[row], alone.raw_images[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(batched.activation_history[:, row], alone.activation_history[:, 0],
                                   rtol=1e-4, atol=1e-4)
