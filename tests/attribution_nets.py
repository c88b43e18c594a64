"""Small nets whose attribution answer is known, for the attribution tests on any Keras backend
(NumPy weights, no TensorFlow): a detector of an X that ignores a + decoy, and a residual net."""
import keras
import numpy as np

SIDE = 32
PATTERN = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], "float32")  # an X: what the detector looks for
DECOY = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], "float32")  # a +: as bright, another shape


def detector_net():
    """detector (one 3×3 filter matching the X, firing only near a full match) -> 2×2 max pool ->
    global mean -> score: the score is high exactly when and where the X is."""
    inputs = keras.Input((SIDE, SIDE, 1), name="image")
    x = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="detector")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, name="score")(x)
    model = keras.Model(inputs, outputs, name="detector_net")
    kernel = (PATTERN - PATTERN.mean())[:, :, None, None]
    match = float((kernel[..., 0, 0] * PATTERN).sum()) * 255.0
    decoy = float((kernel[..., 0, 0] * DECOY).sum()) * 255.0
    assert decoy < 0.5 * match  # the decoy gets under the threshold below
    model.get_layer("detector").set_weights([kernel, np.array([-0.6 * match], "float32")])
    model.get_layer("score").set_weights([np.array([[1.0, -1.0]], "float32"), np.zeros(2, "float32")])
    return model


def planted(where, decoy_at=None):
    image = np.zeros((SIDE, SIDE, 1), "float32")
    row, col = where
    image[row - 1:row + 2, col - 1:col + 2, 0] = PATTERN * 255.0
    if decoy_at is not None:
        row, col = decoy_at
        image[row - 1:row + 2, col - 1:col + 2, 0] = DECOY * 255.0
    return image


def peak(heat):
    return np.unravel_index(np.argmax(heat), heat.shape)


def mass_near(heat, where, radius):
    row, col = where
    return heat[max(0, row - radius):row + radius + 1, max(0, col - radius):col + radius + 1].sum() / heat.sum()


def residual_net():
    """conv -> conv added back (a connection that skips the second conv) -> pool -> conv -> global
    mean -> softmax over 5 classes, 24 px RGB, NumPy-drawn weights with moderate logits."""
    inputs = keras.Input((24, 24, 3), name="image")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(a)
    x = keras.layers.Add(name="skip")([a, b])
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="residual_net")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    kernel, bias = model.get_layer("c1").get_weights()
    model.get_layer("c1").set_weights([kernel / 255.0, bias])  # photos in 0..255
    return model
