"""Objectives that compose (``actmax_widgets.objectives``): the algebra's values and gradients,
what each kind raises, batching, retracing, keras-vis Losses in the list, diversity, bad input."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from actmax_widgets import objectives as obj, visualize_filters
from actmax_widgets.engine import gram_similarity
from actmax_widgets.losses import Loss
from actmax_widgets.objectives import batched
from actmax_widgets.objectives.compiled import compiled_for_objectives
from actmax_widgets.recipe import Recipe
from core_helpers import conv_layers, functional, noise_images, zero_mean_kernels

SIZE = 32
ACT_ONLY = Recipe(lp_norm_weight=0, tv_weight=0)


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "objectives_net"))


def _values_and_gradients(model, objectives, images):
    """Each objective's value on its image, and d(sum of values)/d images, through the batched step."""
    compiled, loss = compiled_for_objectives(model, objectives)
    inputs = loss.batch_inputs(objectives, [loss.sample_data(o) for o in objectives], batched.group_ids(objectives))
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = compiled.problem.loss_model(images, training=False)[0]
        values = -loss.per_sample_loss(out, tf.nest.map_structure(tf.constant, inputs))
        total = tf.reduce_sum(values)
    return values.numpy(), tape.gradient(total, images).numpy()


def _by_hand(model, images, formula):
    """``formula(conv1, conv2)`` per image (channels-last activations) and its gradient."""
    probe = keras.Model(model.inputs[0], [model.get_layer("conv1").output, model.get_layer("conv2").output])
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        conv1, conv2 = probe(images, training=False)
        values = formula(conv1, conv2)
        total = tf.reduce_sum(values)
    return values.numpy(), tape.gradient(total, images).numpy()


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())


def test_objective_algebra_has_the_gradient_of_the_hand_written_expression(net):
    images = noise_images((SIZE, SIZE, 3), n=2, seed=1)
    vector = np.arange(8, dtype="float32") - 3.5
    objective = (2 * obj.channel("conv2", 3) - obj.neuron("conv1", 1, x=2, y=5) / 4
                 + obj.direction("conv2", vector) * obj.channel("conv1", 0) + 1.5)
    quotient = obj.channel("conv2", 5) / (1 + obj.channel("conv1", 2))
    values, grads = _values_and_gradients(net, [objective, quotient], images)
    unit = vector / np.linalg.norm(vector)

    def formula(conv1, conv2):
        mean1, mean2 = tf.reduce_mean(conv1, axis=(1, 2)), tf.reduce_mean(conv2, axis=(1, 2))
        first = (2 * mean2[:1, 3] - conv1[:1, 5, 2, 1] / 4
                 + tf.reduce_sum(mean2[:1] * unit, axis=1) * mean1[:1, 0] + 1.5)
        second = mean2[1:, 5] / (1 + mean1[1:, 2])
        return tf.concat([first, second], axis=0)

    expected_values, expected_grads = _by_hand(net, images, formula)
    _close(values, expected_values)
    _close(grads, expected_grads)


def test_interpolate_at_0_and_1_is_a_and_b(net):
    images = noise_images((SIZE, SIZE, 3), n=2, seed=2)
    a, b = obj.channel("conv2", 1), obj.neuron("conv1", 4, x=7, y=3)
    ends = _values_and_gradients(net, [obj.interpolate(a, b, 0), obj.interpolate(a, b, 1)], images)
    plain = _values_and_gradients(net, [a, b], images)
    _close(ends[0], plain[0])
    _close(ends[1], plain[1])
    assert str(obj.interpolate(a, b, 0.25)) == "interpolate(conv2:1, conv1:4 @ (7, 3), t=0.25)"


def test_direction_along_one_channel_is_that_channel(net):
    images = noise_images((SIZE, SIZE, 3), n=1, seed=3)
    one_hot = np.eye(8)[6] * 5.0  # the vector's length does not matter
    _close(_values_and_gradients(net, [obj.direction("conv2", one_hot)], images)[1],
           _values_and_gradients(net, [obj.channel("conv2", 6)], images)[1])


def test_labels_are_readable():
    c = obj.channel("conv2", 3)
    assert str(c) == "conv2:3"
    assert str(2 * c - obj.neuron("conv1", 2, x=1, y=4)) == "2 * conv2:3 - conv1:2 @ (1, 4)"
    assert str(-c + 1) == "-conv2:3 + 1"
    assert str(c / (1 + obj.channel("conv1", 0))) == "conv2:3 / (1 + conv1:0)"
    assert str(obj.neuron("conv1", 0)) == "conv1:0 @ centre"
    assert str(obj.diversity("conv2")) == "diversity(conv2)"


def _activations(model, layer, images):
    """(B, H, W, C) activations of ``layer`` on uint8/float images."""
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return probe(np.asarray(images, "float32"), training=False).numpy()


def _start_images(model, objectives, seed):
    """The images a run starts from (after one step the best image is the one it started from)."""
    return visualize_filters(model, objectives=objectives, max_iter=1, seed=seed, recipe=ACT_ONLY).raw_images


def test_neuron_raises_its_position_more_than_the_others(net):
    objective = obj.neuron("conv1", 5, x=3, y=9)
    before = _activations(net, "conv1", _start_images(net, [objective], seed=4))[0, ..., 5]
    result = visualize_filters(net, objectives=[objective], max_iter=15, seed=4, recipe=ACT_ONLY)
    gain = _activations(net, "conv1", result.raw_images)[0, ..., 5] - before
    assert np.unravel_index(np.argmax(gain), gain.shape) == (9, 3)  # (row y, column x)
    assert gain[9, 3] > 0
    assert result.labels == ["conv1:5 @ (3, 9)"]


def test_direction_raises_the_projection(net):
    vector = np.array([1.0, -1.0, 0.5, 0.0, 2.0, 0.0, -0.5, 1.0])
    unit = vector / np.linalg.norm(vector)

    def projection(images):
        return _activations(net, "conv2", images).mean(axis=(1, 2)) @ unit

    start = _start_images(net, [obj.direction("conv2", vector)], seed=5)
    result = visualize_filters(net, objectives=[obj.direction("conv2", vector)], max_iter=15, seed=5,
                               recipe=ACT_ONLY)
    assert projection(result.raw_images)[0] > projection(start)[0] + 1.0
    np.testing.assert_allclose(result.final_activations, projection(result.raw_images), rtol=1e-3)


MIXED = [obj.channel("conv2", 1), obj.neuron("conv1", 2, x=0, y=4), 0.5 * obj.channel("conv1", 3) + obj.channel("conv2", 6),
         obj.channel("conv2", 4) / (1 + obj.channel("conv1", 1))]


def test_batched_objectives_equal_one_at_a_time(net):
    together = visualize_filters(net, objectives=MIXED, max_iter=8, seed=6)
    for k, objective in enumerate(MIXED):
        alone = visualize_filters(net, objectives=[objective], max_iter=8, seed=6)
        np.testing.assert_allclose(together.raw_images[k], alone.raw_images[0], atol=0.05)
        np.testing.assert_allclose(together.activation_history[:, k], alone.activation_history[:, 0], rtol=1e-3,
                                   atol=1e-3)
    assert together.labels == [str(o) for o in MIXED]


def _compiled_as_run(model, objectives, recipe):
    """The cached compiled step ``visualize_filters(model, objectives=objectives, recipe=recipe)`` uses."""
    return compiled_for_objectives(model, objectives, param=recipe.parameterization(),
                                   input_modifiers=list(recipe.transforms), optimizer_settings=dict(recipe.optimizer))[0]


def test_a_new_list_of_the_same_structures_does_not_retrace(net):
    visualize_filters(net, objectives=MIXED, max_iter=2, seed=0, recipe=ACT_ONLY)
    compiled = _compiled_as_run(net, MIXED, ACT_ONLY)
    step = compiled._states[len(MIXED)].step
    assert step.experimental_get_tracing_count() == 1
    others = [obj.direction("conv2", np.arange(8)), obj.neuron("conv1", 7, x=30, y=1),
              -2 * obj.channel("conv1", 0) + obj.channel("conv2", 2), obj.channel("conv2", 0) / (3 + obj.channel("conv1", 5))]
    started = []
    visualize_filters(net, objectives=others, max_iter=2, seed=1, recipe=ACT_ONLY,
                      on_start=lambda info, needs_compile: started.append(needs_compile))
    assert started == [False]
    assert _compiled_as_run(net, others, ACT_ONLY) is compiled
    assert step.experimental_get_tracing_count() == 1


class MeanOfChannel(Loss):
    """A keras-vis loss written for batches: one value per sample."""

    name = "mean of a conv2 channel"

    def __init__(self, layer, channel):
        self.layer, self.channel = layer, channel

    def build_loss(self):
        return -ops.mean(self.layer.output[..., self.channel], axis=(1, 2))


def test_a_keras_vis_loss_in_the_list_is_optimized_per_sample(net):
    loss = MeanOfChannel(net.get_layer("conv2"), 2)
    objectives = [loss, obj.channel("conv2", 5), 2 * obj.as_objective(loss)]  # twice, beside another objective
    start = _activations(net, "conv2", _start_images(net, objectives, seed=7)).mean(axis=(1, 2))
    result = visualize_filters(net, objectives=objectives, max_iter=10, seed=7, recipe=ACT_ONLY)
    end = _activations(net, "conv2", result.raw_images).mean(axis=(1, 2))
    assert result.labels == ["mean of a conv2 channel", "conv2:5", "2 * mean of a conv2 channel"]
    assert end[0, 2] > start[0, 2] + 1.0 and end[2, 2] > start[2, 2] + 1.0 and end[1, 5] > start[1, 5] + 1.0
    np.testing.assert_allclose(result.final_activations, [end[0, 2], end[1, 5], 2 * end[2, 2]], rtol=1e-3)


def _gram_similarity(model, layer, images):
    features = _activations(model, layer, images)
    return gram_similarity(features, np.ones((len(images), 1), "float32")).numpy().mean()


def test_diversity_makes_copies_differ_more(net):
    plain = [obj.channel("conv2", 3)] * 4
    diverse = [obj.channel("conv2", 3) + 20 * obj.diversity("conv2")] * 4
    without = visualize_filters(net, objectives=plain, max_iter=20, seed=8, recipe=ACT_ONLY)
    with_it = visualize_filters(net, objectives=diverse, max_iter=20, seed=8, recipe=ACT_ONLY)
    assert _gram_similarity(net, "conv2", with_it.raw_images) < _gram_similarity(net, "conv2", without.raw_images) - 0.02


@pytest.mark.parametrize("objective, error, words", [
    (obj.channel("no_such_layer", 0), ValueError, ["no_such_layer", "layer="]),
    (obj.channel("conv2", 8), ValueError, ["n=8", "0 to 7"]),
    (obj.neuron("conv1", 0, x=32, y=0), ValueError, ["x=32", "0 to 31"]),
    (obj.neuron("conv2", 0, x=0, y=30), ValueError, ["y=30", "0 to 29"]),
    (obj.direction("conv2", [1.0, 2.0]), ValueError, ["vector", "2 values", "8 channels"]),
])
def test_bad_objectives_name_the_argument(net, objective, error, words):
    with pytest.raises(error) as raised:
        visualize_filters(net, objectives=[obj.channel("conv2", 0), objective], max_iter=1)
    for word in words:
        assert word in str(raised.value)


def test_bad_objective_values_fail_when_made():
    c = obj.channel("conv2", 0)
    with pytest.raises(TypeError, match="'conv2:0'|cannot be combined"):
        c / "two"
    with pytest.raises(ZeroDivisionError, match="non-zero"):
        c / 0
    with pytest.raises(ValueError, match="vector"):
        obj.direction("conv2", [0.0, 0.0])
    with pytest.raises(TypeError, match="n="):
        obj.channel("conv2", 1.5)


def test_objectives_must_be_a_list_without_layer(net):
    with pytest.raises(TypeError, match="objectives="):
        visualize_filters(net, objectives=obj.channel("conv2", 0))
    with pytest.raises(ValueError, match="objectives is empty"):
        visualize_filters(net, objectives=[])
    with pytest.raises(TypeError, match="layer="):
        visualize_filters(net, "conv2", [0], objectives=[obj.channel("conv2", 0)])


def test_objectives_refuse_the_settings_they_cannot_honour(net, monkeypatch):
    """recipe.diversity and objective= mean nothing beside objectives=: refused, not silently dropped."""
    monkeypatch.setattr("actmax_widgets.visualization._visualize_objectives",
                        lambda *args: pytest.fail("the objectives ran"))
    with pytest.raises(ValueError, match=r"diversity=3.0.*objectives.diversity\(layer\)"):
        visualize_filters(net, objectives=[obj.channel("conv2", 0)], recipe=Recipe(diversity=3.0))
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="objective='center'.*objectives="):
        visualize_filters(net, objectives=[obj.channel("conv2", 0)], objective="center")


def test_a_loss_without_one_value_per_sample_is_refused(net):
    class BatchMean(MeanOfChannel):
        def build_loss(self):
            return -ops.mean(self.layer.output[..., self.channel])

    with pytest.raises(ValueError, match=r"one value per sample, shape \(batch,\)"):
        visualize_filters(net, objectives=[BatchMean(net.get_layer("conv2"), 0)], max_iter=1)


def test_on_a_token_layer_channel_averages_the_patches_and_neuron_picks_a_patch():
    from actmax_widgets import vit

    model = vit.tiny_vit(seed=0)  # 32 px, 8 px patches: a class token and a 4 x 4 grid
    layer = "block0_mlp_fc1"
    images = noise_images((32, 32, 3), n=2, seed=9)
    values, grads = _values_and_gradients(model, [obj.channel(layer, 3), obj.neuron(layer, 5, x=1, y=2)], images)
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    image_tensor = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(image_tensor)
        tokens = probe(image_tensor, training=False)  # (B, 1 + 16, C)
        expected = tf.stack([tf.reduce_mean(tokens[0, 1:, 3]), tokens[1, 1 + 2 * 4 + 1, 5]])
        total = tf.reduce_sum(expected)
    _close(values, expected.numpy())
    _close(grads, tape.gradient(total, image_tensor).numpy())
    with pytest.raises(ValueError, match="x=4"):
        visualize_filters(model, objectives=[obj.neuron(layer, 0, x=4, y=0)], max_iter=1)
