"""Objectives that compose (``actmax_widgets.objectives``): the algebra's values and gradients,
what each kind raises, batching, retracing, keras-vis Losses in the list, diversity, bad input."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actmax_widgets import objectives as obj
from actmax_widgets.objectives import batched
from actmax_widgets.objectives.compiled import compiled_for_objectives
from core_helpers import conv_layers, functional, noise_images, zero_mean_kernels

SIZE = 32


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
