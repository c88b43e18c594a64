"""Target heads: computing only the targeted channels of the visualized layer gives the same
optimization as computing all of them, and is used only where channels are separable."""
import keras
import numpy as np
import pytest

from actmax_widgets import target_head, visualize_filters
from actmax_widgets.target_head import TargetChannelActivations, head_channels
from actmax_widgets.visualization import compiled_for


def _net(kind):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    if kind == "conv_relu":  # VGG: the target conv has a fused ReLU
        out = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="target")(x)
    elif kind == "conv_bn_relu6":  # EfficientNet / MobileNet: conv -> BN -> ReLU6
        x = keras.layers.Conv2D(12, 1, use_bias=False, name="conv")(x)
        x = keras.layers.BatchNormalization(name="bn")(x)
        out = keras.layers.Activation("relu6", name="target")(x)
    elif kind == "dense":
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(12, activation="tanh", name="target")(x)
    model = keras.Model(inputs, out)
    for layer in model.layers:  # non-trivial BN statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([np.linspace(0.5, 1.5, 12, dtype="float32"), np.linspace(-0.2, 0.2, 12, dtype="float32"),
                               np.linspace(-0.1, 0.1, 12, dtype="float32"), np.linspace(0.5, 2, 12, dtype="float32")])
    return model


def _without_heads(monkeypatch):
    monkeypatch.setattr(target_head, "find", lambda cut: None)


@pytest.mark.parametrize("kind, objective", [
    (kind, objective) for kind in ("conv_relu", "conv_bn_relu6", "dense")
    for objective in ("mean", "center", "negative") if not (kind == "dense" and objective == "center")])
def test_a_head_optimizes_exactly_as_the_whole_layer(kind, objective, monkeypatch):
    model = _net(kind)
    settings = dict(max_iter=12, seed=3, objective=objective, tv_weight=1, lp_norm_weight=1)
    filters = [0, 5, [2, 7], 11]  # a joint target too
    compiled, _ = compiled_for(model, "target", objective="mean" if objective == "negative" else objective)
    assert isinstance(compiled.problem.losses[0], TargetChannelActivations)
    with_head = visualize_filters(model, "target", filters, **settings)
    keras.backend.clear_session()
    model = _net(kind)
    _without_heads(monkeypatch)
    whole = visualize_filters(model, "target", filters, **settings)
    np.testing.assert_allclose(with_head.activation_history, whole.activation_history, rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(with_head.raw_images, whole.raw_images, rtol=1e-3, atol=1e-2)


def test_joint_targets_wider_than_the_batch_use_every_channel(monkeypatch):
    model = _net("conv_relu")
    targets = [list(range(0, 6)), list(range(6, 12))]  # 12 channels for 2 samples
    visualize_filters(model, "target", [3, 4], max_iter=2, seed=1)
    with_head = visualize_filters(model, "target", targets, max_iter=6, seed=1)
    assert compiled_for(model, "target")[0]._states[2].step.experimental_get_tracing_count() == 1
    keras.backend.clear_session()
    model = _net("conv_relu")
    _without_heads(monkeypatch)
    whole = visualize_filters(model, "target", targets, max_iter=6, seed=1)
    np.testing.assert_allclose(with_head.activation_history, whole.activation_history, rtol=2e-4, atol=1e-4)


def test_other_filters_reuse_the_traced_step():
    model = _net("conv_bn_relu6")
    visualize_filters(model, "target", [0, 1, 2], max_iter=2, seed=0)
    visualize_filters(model, "target", [9, 4, 11], max_iter=2, seed=0)
    compiled, _ = compiled_for(model, "target")
    assert compiled._states[3].step.experimental_get_tracing_count() == 1


def test_head_channels_cover_the_masks_with_a_fixed_width():
    masks = np.zeros((3, 10), "float32")
    masks[0, 4] = masks[1, 7] = masks[2, 4] = 1.0
    channels = head_channels(masks, 3)
    assert len(channels) == 3 and {4, 7} <= set(channels.tolist()) and len(set(channels.tolist())) == 3
    assert masks[:, channels].sum() == masks.sum()  # nothing counted twice, nothing lost
    masks[:, :] = 1.0  # more channels than the width: every channel (same width, no retrace)
    np.testing.assert_array_equal(head_channels(masks, 3), [-1, -1, -1])


def test_layers_whose_channels_mix_get_no_head():
    inputs = keras.Input((12, 12, 4))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    cases = {
        "softmax": keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(conv)),
        "add": keras.layers.Add()([conv, inputs]),
        "depthwise": keras.layers.DepthwiseConv2D(3)(inputs),
        "grouped": keras.layers.Conv2D(4, 3, groups=2)(inputs),
        "pool": keras.layers.MaxPooling2D()(conv),
    }
    for name, out in cases.items():
        assert target_head.find(keras.Model(inputs, out)) is None, name
    assert target_head.find(keras.Model(inputs, conv)) is not None


def test_diversity_computes_the_whole_layer():
    model = _net("conv_relu")
    compiled, _ = compiled_for(model, "target", diversity=True)
    assert not isinstance(compiled.problem.losses[0], TargetChannelActivations)
