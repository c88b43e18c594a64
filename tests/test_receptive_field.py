"""Receptive fields from the graph: right on a constructed net with a planted pattern, and equal
to the empirical field (the nonzero input gradient of one output position) through strided,
dilated, depthwise, separable, padded, cropped and merging layers (issue #14)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets.evidence import dataset_examples, receptive_field

CROSS = np.array([[-1, 1, -1], [1, 1, 1], [-1, 1, -1]], "float32")


def planted_net():
    """conv 3 x 3 (valid) whose filter 0 is a cross detector -> max pool 2: a field of 4 px, stride 2."""
    image = keras.Input((24, 24, 1), name="image")
    x = keras.layers.Conv2D(2, 3, name="detect")(image)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    model = keras.Model(image, x, name="planted")
    kernel = np.zeros((3, 3, 1, 2), "float32")
    kernel[..., 0, 0] = CROSS
    kernel[..., 0, 1] = -CROSS
    model.get_layer("detect").set_weights([kernel, np.zeros(2, "float32")])
    return model


def test_the_box_of_a_planted_pattern_is_where_it_was_planted(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    images = rng.uniform(100, 140, (20, 24, 24, 1)).astype("float32")  # low-contrast noise
    images[13, 10:13, 17:20, 0] = 128 + 120 * CROSS  # the cross at rows 10-12, columns 17-19
    examples = dataset_examples(planted_net(), "pool", filters=[0], images=images, top_k=3, progress=False)
    assert examples.image_indices[0, 0] == 13
    assert examples.receptive_field == (4, 4)
    # The cross's conv position (10, 17) is pooled with (10..11, 16..17) into output (5, 8), whose
    # field is rows 10-13, columns 16-19.
    assert examples.where[0, 0].tolist() == [10, 16, 14, 20]
    patch = examples.patches[0, 0, ..., 0].astype("float32")
    np.testing.assert_allclose(patch[0:3, 1:4], np.clip(np.round(128 + 120 * CROSS), 0, 255))


def branching_net():
    """Linear layers only, so every pixel in the field has a nonzero gradient: strided 'same'
    conv (an odd padding: TensorFlow puts the extra pixel after), zero padding, dilated depthwise, average
    pool, cropping, a separable conv branch added back, a concatenated 1 x 1 branch, BN."""
    keras.utils.set_random_seed(7)
    image = keras.Input((40, 40, 3), name="image")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c1")(image)
    x = keras.layers.ZeroPadding2D(((1, 2), (0, 1)), name="zp")(x)
    x = keras.layers.DepthwiseConv2D(3, dilation_rate=2, name="dw")(x)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="ap")(x)
    x = keras.layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    y = keras.layers.SeparableConv2D(4, 3, padding="same", name="sep")(x)
    x = keras.layers.Add(name="add")([x, y])
    z = keras.layers.Conv2D(2, 1, name="one")(x)
    x = keras.layers.Concatenate(name="cat")([x, z])
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("linear", name="act")(x)
    return keras.Model(image, x, name="branching")


def gradient_box(model, position):
    """Bounding box (top, left, bottom, right) of the input pixels with a nonzero gradient of one
    output position's channel sum."""
    image = tf.Variable(np.random.default_rng(0).normal(size=(1,) + model.input_shape[1:]).astype("float32"))
    with tf.GradientTape() as tape:
        out = model(image, training=False)
        value = tf.reduce_sum(out[0, position[0], position[1]])
    grad = np.abs(tape.gradient(value, image).numpy()[0]).sum(axis=-1)
    rows, cols = np.nonzero(grad > 1e-12)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize("layer", ["c1", "dw", "ap", "crop", "add", "act"])
def test_the_field_equals_the_empirical_gradient_field(layer):
    """Inside the image the gradient reaches exactly the field; at an edge it reaches the field's
    part inside the image, less a dilated kernel's holes that fall on padding."""
    model = branching_net()
    cut = keras.Model(model.inputs[0], model.get_layer(layer).output)
    field = receptive_field.of_layer(cut)
    rows, cols = cut.output_shape[1:3]
    middle = (rows // 2, cols // 2)
    starts = [o + p * s for o, p, s in zip(field.offset, middle, field.stride)]
    assert all(start >= 0 and start + size <= 40 for start, size in zip(starts, field.size)), field
    assert field.box(middle, (40, 40)) == gradient_box(cut, middle), (layer, field)
    for position in [(0, 0), (rows - 1, cols - 1), (1, cols - 2)]:
        top, left, bottom, right = field.box(position, (40, 40))
        g_top, g_left, g_bottom, g_right = gradient_box(cut, position)
        assert top <= g_top and left <= g_left and g_bottom <= bottom and g_right <= right, (layer, position)
        assert g_bottom - g_top >= bottom - top - 2 and g_right - g_left >= right - left - 2, (layer, position)


def test_the_branching_net_has_the_field_worked_out_by_hand():
    model = branching_net()
    field = receptive_field.of_layer(model)
    # c1 (3 / 2, same on 40: 1 px of padding in all, TensorFlow puts it after): 3 px, stride 2,
    # offset 0; zero padding (1 row, 0 columns before): offset (-2, 0); dw (dilation 2: 5 px wide):
    # 3 + 4 x 2 = 11; ap (3 / 2, same, pad before 1): 11 + 2 x 2 = 15, offset (-4, -2), stride 4;
    # crop (1 row before): offset (0, -2); sep (3, same): 15 + 2 x 4 = 23, offset (-4, -6); add: the
    # union of both branches, the sep one.
    assert field.size == (23, 23) and field.stride == (4, 4)
    assert field.offset == (-4, -6)


def test_a_dense_unit_sees_the_whole_image(conv_net):
    field = receptive_field.of_layer(conv_net)
    assert field.whole_image and field.size == (16, 16)
    assert field.box((0, 0), (16, 16)) == (0, 0, 16, 16)


def test_a_squeeze_excite_gate_does_not_make_the_field_global():
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(image)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = keras.layers.Conv2D(4, 1, activation="sigmoid")(gate)
    x = keras.layers.Multiply()([x, gate])
    field = receptive_field.of_layer(keras.Model(image, x))
    assert not field.whole_image and field.size == (3, 3)


def test_an_unknown_resizing_layer_falls_back_to_the_whole_image():
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(image)
    x = keras.layers.UpSampling2D(name="up")(x)
    field = receptive_field.of_layer(keras.Model(image, x))
    assert field.whole_image and field.unknown == "up"


def test_a_window_is_the_field_moved_inside_the_image():
    field = receptive_field.ReceptiveField(size=(8, 8), stride=(2, 2), offset=(-3, -3))
    assert field.box((0, 0), (32, 32)) == (0, 0, 5, 5)  # clipped: what it sees
    assert field.window((0, 0), (32, 32)) == (0, 0, 8, 8)  # a patch of the field's size holding it
    assert field.window((5, 5), (32, 32)) == (7, 7, 15, 15)
    assert field.window((15, 15), (32, 32)) == (24, 24, 32, 32)
    big = receptive_field.ReceptiveField(size=(50, 50), stride=(4, 4), offset=(-20, -20))
    assert big.window((3, 3), (32, 32)) == (0, 0, 32, 32)  # larger than the image: the whole image
