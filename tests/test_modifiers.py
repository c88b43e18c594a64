"""Gradient, backprop and input modifiers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import backprop_modifiers, grad_modifiers, visualize_activation, visualize_filters
from actmax_widgets.input_modifiers import InputModifier, Jitter, roll_per_sample
from actmax_widgets.sample_random import SampleRandom

# --- grad modifiers -------------------------------------------------------------------------


def test_grad_modifiers_by_name_compute_keras_vis_formulas():
    g = tf.constant([-2.0, -0.5, 0.25, 3.0])
    eps = 1e-7
    expected = {
        "negate": [2.0, 0.5, -0.25, -3.0],
        "absolute": [2.0, 0.5, 0.25, 3.0],
        "relu": [0.0, 0.0, 0.25, 3.0],
        "invert": [1 / (-2 + eps), 1 / (-0.5 + eps), 1 / (0.25 + eps), 1 / (3 + eps)],
        "small_values": [abs(1 / (-2 + eps)), abs(1 / (-0.5 + eps)), 1 / (0.25 + eps), 1 / (3 + eps)],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(grad_modifiers.get(name)(g).numpy(), values, rtol=1e-6, err_msg=name)


def test_grad_modifier_get_accepts_callables_and_none_and_rejects_unknown_names():
    def double(g):
        return 2 * g

    assert grad_modifiers.get(None) is None
    assert grad_modifiers.get(double) is double
    with pytest.raises(ValueError, match="Unknown grad_modifier 'negative'.*negate"):
        grad_modifiers.get("negative")


# --- backprop modifiers ---------------------------------------------------------------------

def _two_layer_net(style):
    """x (4) -> Dense(5) + ReLU-family activation -> Dense(3); weights big enough that some
    pre-activations exceed 6 (so ReLU6's upper gate matters)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((4,))
    if style == "fused":
        hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    else:
        z = keras.layers.Dense(5, name="hidden")(inputs)
        activation = {"ReLU": keras.layers.ReLU(name="act"),
                      "relu6": keras.layers.Activation("relu6", name="act")}[style]
        hidden = activation(z)
    outputs = keras.layers.Dense(3, name="out")(hidden)
    model = keras.Model(inputs, outputs)
    w1, b1 = model.get_layer("hidden").get_weights()
    model.get_layer("hidden").set_weights([w1 * 4.0, b1 + np.linspace(-2, 2, 5).astype("float32")])
    return model


def _input_gradient(model, x, unit):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(model(x)[:, unit])
    return tape.gradient(loss, x).numpy()


def _hand_gradient(model, x, unit, rule, relu6):
    w1, b1 = model.get_layer("hidden").get_weights()
    w2, _ = model.get_layer("out").get_weights()
    z = x @ w1 + b1
    upstream = np.broadcast_to(w2[:, unit], z.shape)  # dL/dh
    active = (z > 0) & (z < 6) if relu6 else z > 0
    keep = {"plain": active, "guided": active & (upstream > 0), "rectified": upstream > 0}[rule]
    return (upstream * keep) @ w1.T


@pytest.mark.parametrize("style", ["fused", "ReLU", "relu6"])
@pytest.mark.parametrize("rule", ["guided", "rectified"])
def test_backprop_modifier_gradient_equals_hand_computed_gating(style, rule):
    model = _two_layer_net(style)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    relu6 = style == "relu6"
    z = x @ model.get_layer("hidden").get_weights()[0] + model.get_layer("hidden").get_weights()[1]
    assert (z > 0).any() and (z < 0).any()
    if relu6:
        assert (z > 6).any(), "the test needs pre-activations above 6"
    modified = backprop_modifiers.get(rule)(model)
    for unit in range(3):
        expected = _hand_gradient(model, x, unit, rule, relu6)
        np.testing.assert_allclose(_input_gradient(modified, x, unit), expected, rtol=1e-5, atol=1e-5)
        # The modification must change something here, or this test proves nothing.
        assert not np.allclose(expected, _hand_gradient(model, x, unit, "plain", relu6))
    # Same forward pass, and the original model keeps plain backprop.
    np.testing.assert_allclose(modified(x).numpy(), model(x).numpy(), rtol=1e-6)
    for unit in range(3):
        np.testing.assert_allclose(_input_gradient(model, x, unit),
                                   _hand_gradient(model, x, unit, "plain", relu6), rtol=1e-5, atol=1e-5)
    assert modified is not model


def test_backprop_modifier_aliases_and_errors():
    assert backprop_modifiers.get("relu") is backprop_modifiers.rectified
    assert backprop_modifiers.get("deconv") is backprop_modifiers.rectified
    assert backprop_modifiers.get("guided") is backprop_modifiers.guided
    assert backprop_modifiers.get(None) is None
    with pytest.raises(ValueError, match="Unknown backprop_modifier 'guidance'"):
        backprop_modifiers.get("guidance")


def test_backprop_modifier_leaves_the_original_model_untouched(conv_net):
    before = [w.copy() for w in conv_net.get_weights()]
    activations = [getattr(layer, "activation", None) for layer in conv_net.layers]
    guided = backprop_modifiers.guided(conv_net)
    assert [getattr(layer, "activation", None) for layer in conv_net.layers] == activations
    for old, new in zip(before, conv_net.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert guided.get_layer("conv1") is not conv_net.get_layer("conv1")
    assert guided.get_layer("conv1").activation.__name__ == "guided_relu"


def test_guided_visualize_filters_runs_and_raises_activation(conv_net):
    result = visualize_filters(conv_net, "conv2", [0, 1], max_iter=15, seed=0, tv_weight=0,
                               lp_norm_weight=0, backprop_modifier="guided")
    history = result.activation_history
    assert np.all(history[-1] > 1.5 * history[0])


@pytest.mark.parametrize("model_name", ["conv_net", "sequential_conv_net"])
def test_backprop_modifier_on_a_target_that_is_not_a_relu(model_name, request):
    """The Dense head is not replaced by the modifier: its output must still be the modified
    model's (a layer shared with the original would point into the original graph)."""
    model = request.getfixturevalue(model_name)
    settings = dict(max_iter=10, seed=0, tv_weight=0, lp_norm_weight=0)
    plain = visualize_filters(model, "predictions", [1], **settings)
    result = visualize_filters(model, "predictions", [1], backprop_modifier="rectified", **settings)
    assert np.isfinite(result.activation_history).all()
    # The rectified rule changed the gradients: the run went elsewhere than plain backprop.
    assert np.abs(result.raw_images - plain.raw_images).max() > 1.0
    image = visualize_activation(model, "predictions", 1, max_iter=5, seed=0, backprop_modifier="guided")
    assert image.shape == (16, 16, 3)


# --- input modifiers ------------------------------------------------------------------------

def _relu6_net(output):
    """conv (strong weights) -> the ReLU6 output layer given by ``output``."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="relu6", name="hidden",
                                 kernel_initializer=keras.initializers.RandomNormal(0, 0.5),
                                 bias_initializer=keras.initializers.Constant(1.0))(inputs)
    if output == "fused":
        out = keras.layers.Conv2D(4, 3, activation="relu6", name="target")(hidden)
    else:
        pre = keras.layers.Conv2D(4, 3, name="pre", kernel_initializer=keras.initializers.RandomNormal(0, 0.5),
                                  bias_initializer=keras.initializers.Constant(1.0))(hidden)
        layer = keras.layers.ReLU(6.0, name="target") if output == "relu_layer" else \
            keras.layers.Activation("relu6", name="target")
        out = layer(pre)
    return keras.Model(inputs, out)


@pytest.mark.parametrize("output", ["fused", "relu_layer", "activation"])
def test_without_relu6_ceiling_opens_only_the_output_layer(output):
    model = _relu6_net(output)
    open_model = backprop_modifiers.without_relu6_ceiling(model)
    x = np.random.default_rng(0).uniform(-40, 40, (2, 12, 12, 3)).astype("float32")
    capped, opened = model(x).numpy(), open_model(x).numpy()
    assert capped.max() <= 6.0 and opened.max() > 6.0  # the ceiling is gone...
    np.testing.assert_allclose(np.minimum(opened, 6.0), capped, rtol=1e-5, atol=1e-5)  # ...nothing else changed
    assert open_model.get_layer("hidden").activation is model.get_layer("hidden").activation  # relu6 inside
    assert model(x).numpy().max() <= 6.0  # the original is untouched


def test_without_relu6_ceiling_keeps_gated_gradients_and_other_outputs(conv_net):
    assert backprop_modifiers.without_relu6_ceiling(conv_net) is conv_net  # a ReLU output: nothing to do
    guided = backprop_modifiers.guided(_relu6_net("activation"))
    opened = backprop_modifiers.without_relu6_ceiling(guided)
    assert opened.get_layer("target").activation is backprop_modifiers._REPLACEMENTS[("guided", "relu")]


def test_uncapped_relu6_target_keeps_rising_past_6():
    model = _relu6_net("activation")
    settings = dict(max_iter=40, seed=0, tv_weight=0, lp_norm_weight=0)
    capped = visualize_filters(model, "target", [2, 3], **settings)  # filters that reach 6 quickly
    opened = visualize_filters(model, "target", [2, 3], uncap_relu6=True, **settings)
    assert np.all(capped.activation_history[-1] > 5.99) and capped.activation_history.max() <= 6.0 + 1e-5
    assert np.all(opened.activation_history[-1] > 8.0)
    # The fourier style opens the ceiling; keras-vis's keeps keras-vis's behaviour.
    assert visualize_filters(model, "target", [3], max_iter=30, seed=0, style="fourier").activation_history.max() > 6.0


def test_jitter_defaults_and_offsets():
    assert Jitter().jitter.tolist() == [0.05]
    # < 1: a fraction of each dimension; >= 1: pixels.
    assert Jitter(0.25).offsets_for((16, 32)) == [4, 8]
    assert Jitter(3).offsets_for((16, 32)) == [3, 3]
    assert Jitter([0.5, 2]).offsets_for((16, 32)) == [8, 2]
    with pytest.raises(ValueError, match="2 values but the image has 1 dimensions"):
        Jitter([1, 2]).offsets_for((32,))
    with pytest.raises(ValueError, match="positive"):
        Jitter(-1)


def test_jitter_shifts_each_sample_within_limits_with_wraparound():
    images = tf.reshape(tf.range(2 * 8 * 8 * 1, dtype=tf.float32), (2, 8, 8, 1))
    jitter = Jitter(2)
    seen = set()
    for step in range(12):
        random = SampleRandom(tf.constant([11, 12], tf.int64), tf.constant(step, tf.int64))
        out = jitter.transform(images, random).numpy()
        for b in range(2):
            # Find the shift that maps the original to the output.
            matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                       if np.array_equal(np.roll(images.numpy()[b], (dy, dx), axis=(0, 1)), out[b])]
            assert len(matches) == 1, f"step {step}, sample {b}: not a wrap-around shift within ±2"
            seen.add(matches[0])
    assert len(seen) > 5  # really random shifts, not a constant one


def test_roll_per_sample_matches_numpy_roll():
    images = np.random.default_rng(0).normal(size=(3, 5, 7, 2)).astype("float32")
    shifts = np.array([[1, -2], [0, 3], [-4, 6]], "int32")
    out = roll_per_sample(tf.constant(images), tf.constant(shifts)).numpy()
    for b in range(3):
        np.testing.assert_array_equal(out[b], np.roll(images[b], tuple(shifts[b]), axis=(0, 1)))


def test_host_only_input_modifier_pre_and_post_run_in_keras_vis_order(conv_net):
    calls = []

    class Recorder(InputModifier):
        def __init__(self, tag):
            self.tag = tag

        def pre(self, inp):
            calls.append(("pre", self.tag))
            return inp

        def post(self, inp):
            calls.append(("post", self.tag))
            return inp

    visualize_filters(conv_net, "conv2", [0], max_iter=2, seed=0,
                      input_modifiers=[Recorder("a"), Recorder("b")])
    one_step = [("pre", "a"), ("pre", "b"), ("post", "b"), ("post", "a")]
    assert calls == one_step * 2


def test_input_modifier_that_is_not_one_is_refused(conv_net):
    with pytest.raises(TypeError, match="is not an InputModifier"):
        visualize_filters(conv_net, "conv2", [0], max_iter=2, input_modifiers=["jitter"])
