"""BatchNormalization folding: the folded model computes the same outputs and input gradients,
folds exactly what is safe to fold, and never folds into the visualized layer."""
import keras
import numpy as np
import pytest
from keras import ops

from actmax_widgets import batchnorm_folding, models, model_cut
from actmax_widgets.backend.autodiff import value_and_gradients
from actmax_widgets.batchnorm_folding import FoldedBatchNorm, fold_batchnorm


def _randomize_bn(model, seed=0):
    """Non-trivial BN statistics (fresh layers have mean 0, variance 1, γ 1, β 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2.0, w.shape).astype("float32") if "variance" in w.path
                               else rng.normal(0, 1, w.shape).astype("float32") for w in layer.weights])
    return model


def _same_outputs_and_gradients(model, folded, shape, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (2,) + shape).astype("float32")
    results = []
    for net in (model, folded):
        def weighted_sum(image, net=net):
            out = net(image, training=False)
            return ops.sum(out * ops.cos(ops.arange(out.shape[-1], dtype="float32"))), out

        _, out, (grad,) = value_and_gradients(weighted_sum, x)
        results.append((ops.convert_to_numpy(out), ops.convert_to_numpy(grad)))
    (out_a, grad_a), (out_b, grad_b) = results
    np.testing.assert_allclose(out_b, out_a, rtol=1e-4, atol=1e-4 * np.abs(out_a).max())
    np.testing.assert_allclose(grad_b, grad_a, rtol=1e-4, atol=1e-4 * np.abs(grad_a).max())


def _folded_count(model):
    return sum(isinstance(layer, FoldedBatchNorm) for layer in model.layers)


def test_conv_depthwise_and_dense_are_folded_exactly():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="bn2", center=False)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="dense")(x)
    outputs = keras.layers.BatchNormalization(name="bn3", scale=False)(x)
    model = _randomize_bn(keras.Model(inputs, outputs))
    folded = fold_batchnorm(model)
    assert _folded_count(folded) == 3
    _same_outputs_and_gradients(model, folded, (12, 12, 3))
    assert model.get_layer("bn1").__class__ is keras.layers.BatchNormalization  # the original is untouched


def test_unsafe_pairs_are_left_alone():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((10, 10, 3))
    fused = keras.layers.Conv2D(4, 3, activation="relu", name="fused_relu")(inputs)
    x = keras.layers.BatchNormalization(name="after_relu")(fused)  # BN after a nonlinearity
    branch = keras.layers.Conv2D(4, 1, name="two_consumers")(x)
    a = keras.layers.BatchNormalization(name="bn_a")(branch)
    outputs = keras.layers.Add()([a, branch])  # the conv output is also used unnormalized
    model = _randomize_bn(keras.Model(inputs, outputs))
    assert batchnorm_folding.foldable_pairs(model) == {}
    assert fold_batchnorm(model) is model


def test_the_visualized_layer_keeps_its_own_output():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((10, 10, 3))
    conv = keras.layers.Conv2D(4, 3, name="target")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(conv)
    model = _randomize_bn(keras.Model(inputs, outputs))
    assert "target" not in batchnorm_folding.foldable_pairs(model, keep={"target"})
    # Cut at the conv, the BN is not in the cut; cut at the BN, folding gives the BN's output.
    cut, info = model_cut.cut_at(model, "bn")
    folded = fold_batchnorm(cut, keep={info.name})
    assert _folded_count(folded) == 1 and folded.layers[-1].name == "bn"
    _same_outputs_and_gradients(cut, folded, (10, 10, 3))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_and_channels_first(data_format):
    keras.utils.set_random_seed(3)
    axis = 1 if data_format == "channels_first" else -1
    shape = (3, 16) if data_format == "channels_first" else (16, 3)
    inputs = keras.Input(shape)
    x = keras.layers.Conv1D(6, 3, data_format=data_format, name="conv")(inputs)
    outputs = keras.layers.BatchNormalization(axis=axis, name="bn")(x)
    model = _randomize_bn(keras.Model(inputs, outputs))
    folded = fold_batchnorm(model)
    assert _folded_count(folded) == 1
    _same_outputs_and_gradients(model, folded, shape)


def test_bn_over_another_axis_is_not_folded():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    outputs = keras.layers.BatchNormalization(axis=1, name="rows")(x)  # normalizes rows, not channels
    assert batchnorm_folding.foldable_pairs(keras.Model(inputs, outputs)) == {}


def test_efficientnet_lite0_folds_every_bn_with_the_same_result():
    model = models.efficientnet_lite0(input_shape=(64, 64, 3), include_top=False)
    cut, info = model_cut.cut_at(model, "block3a_project_bn")
    folded = fold_batchnorm(cut, keep={info.name})
    n_bn = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in cut.layers)
    assert n_bn > 5 and _folded_count(folded) == n_bn
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = ops.convert_to_numpy(cut(x))
    np.testing.assert_allclose(ops.convert_to_numpy(folded(x)), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
