"""The gradient modules' outputs on the active Keras backend, for the cross-backend test
(``test_grads_backends.py``).

``python tests/grads_backend_checks.py OUT.npz`` with ``KERAS_BACKEND`` set computes every check
once and saves the numpy results; ``under(backend)`` runs that in a fresh process (the backend is
fixed when Keras is imported); the test compares with TensorFlow's, computed in its own process
by ``outputs()``. Every weight and input is drawn with NumPy, so all backends see the same nets.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import backend_processes


def _compiled(fn):
    """``fn`` as the engine runs it: ``jax.jit`` / ``tf.function`` (traced flags and channels
    catch any closure over a tensor from outside a custom gradient), eager on torch."""
    from actmax_widgets import backend
    if backend.name() == "jax":
        import jax
        return jax.jit(fn)
    if backend.name() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn)
    return fn


def _set_numpy_weights(model, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([scale * rng.normal(size=w.shape).astype("float32") for w in weights])
    return model


def _relu_net():
    """x (6) -> Dense(5, relu) -> Dense(4) -> ReLU(6) -> Dense(3): a fused ReLU and a ReLU6 layer,
    weights large enough that some units are off and some above 6."""
    import keras
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    x = keras.layers.ReLU(6.0, name="relu6")(keras.layers.Dense(4, name="pre6")(x))
    model = _set_numpy_weights(keras.Model(inputs, keras.layers.Dense(3, name="out")(x)), seed=1, scale=2.0)
    # Output 0 rises with the two ReLU6 units in their linear range (mostly) and falls with the
    # other two: gradients of both signs.
    model.get_layer("out").set_weights([np.array([[-1, 1, 0.5], [1, 2, 1], [-0.5, 0.5, -1], [1, 1, 1]], "float32"),
                                        np.zeros(3, "float32")])
    return model


def _input_gradient(model, x, unit=0):
    from keras import ops
    from actmax_widgets.backend.autodiff import value_and_gradients

    def gradient(x):
        _, _, (grad,) = value_and_gradients(lambda x: (ops.sum(model(x)[:, unit]), None), x)
        return grad

    return ops.convert_to_numpy(_compiled(gradient)(ops.convert_to_tensor(x)))


def _modifiers():
    from actmax_widgets import backprop_modifiers
    model = _relu_net()
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")
    return {f"gradient {rule}": _input_gradient(backprop_modifiers.get(rule)(model) if rule else model, x)
            for rule in (None, "guided", "rectified")}


def _redirected():
    """A layer whose units are all off (bias -10): its true gradient is zero; the warm-up flag,
    computed from a traced step index, lets through the gradient that would turn units on."""
    import keras
    from keras import ops
    from actmax_widgets import relu_warmup
    from actmax_widgets.backend.autodiff import value_and_gradients

    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, activation="relu", name="dead")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    model.set_weights([np.array([[1, -2], [3, 1], [-1, 2]], "float32"), np.full(2, -10, "float32"),
                       np.array([[0.5], [-1.5]], "float32"), np.zeros(1, "float32")])
    redirected = relu_warmup.redirected(model)

    def gradient(x, step):
        def value(x):
            with relu_warmup.warming_up(step < 4):  # the flag is a tensor of this trace
                return ops.sum(redirected(x)), None
        return value_and_gradients(value, x)[2][0]

    run, x = _compiled(gradient), ops.convert_to_tensor(np.ones((2, 3), "float32"))
    return {f"redirected step {step}": ops.convert_to_numpy(run(x, ops.convert_to_tensor(np.int32(step))))
            for step in (0, 9)}


def _losses():
    import keras
    from actmax_widgets.losses import ChannelActivations
    from actmax_widgets.regularizers import LPNorm, TotalVariation

    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")
    model = _set_numpy_weights(keras.Model(inputs, conv(inputs)), seed=3)
    x = np.random.default_rng(4).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expressions = {"total variation": TotalVariation(inputs).build_loss(), "lp norm": LPNorm(inputs).build_loss(),
                   "channel mean": ChannelActivations(conv).build_loss(),
                   "channel center": ChannelActivations(conv, reduction="center").build_loss()}
    return {name: keras.ops.convert_to_numpy(keras.Model(model.inputs[0], value)(x)) for name, value in expressions.items()}


def _target_head():
    """``weighted_sum`` of a conv -> BN -> ReLU6 head, for chosen channels and for all of them
    (``head_channels`` says -1): the two branches of its condition, with traced channels."""
    import keras
    from keras import ops
    from actmax_widgets import target_head

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Activation("relu6", name="target")(x))
    _set_numpy_weights(model, seed=5)
    bn = model.get_layer("bn")
    bn.set_weights(bn.get_weights()[:2] + [np.linspace(-0.1, 0.1, 6, dtype="float32"),
                                           np.linspace(0.5, 2, 6, dtype="float32")])
    head = target_head.TargetChannelActivations(target_head.find(model))
    trunk = keras.Model(model.inputs[0], head.build_loss())(np.random.default_rng(6).normal(size=(2, 8, 8, 3)))
    masks = np.zeros((2, 6), "float32")
    masks[0, 1], masks[1, [2, 4]] = 1.0, (1.0, -1.0)
    run = _compiled(head.weighted_sum)
    out = {}
    for name, width in (("chosen", 3), ("every", 2)):
        channels = ops.convert_to_tensor(target_head.head_channels(masks, width))
        out[f"head {name}"] = ops.convert_to_numpy(run(trunk, channels, ops.convert_to_tensor(masks)))
    return out


def _objectives():
    """An objective with a channel, a neuron at (x, y) (a per-sample gather), a direction, a
    product, a quotient and constants, through ``ObjectivesLoss.per_sample_loss``: values and
    the image gradient."""
    import keras
    from keras import ops
    from actmax_widgets import objectives as obj
    from actmax_widgets.backend.autodiff import value_and_gradients
    from actmax_widgets.objectives import batched

    inputs = keras.Input((8, 8, 3))
    conv1 = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(5, 3, activation="relu", name="conv2")
    model = _set_numpy_weights(keras.Model(inputs, conv2(conv1(inputs))), seed=7, scale=0.3)
    objectives = [2 * obj.channel("conv2", 3) - obj.neuron("conv1", 1, x=2, y=5) / (obj.channel("conv1", 0) + 1)
                  + obj.direction("conv2", np.arange(5, dtype="float32") - 2) * obj.channel("conv1", 2) + 1.5,
                  obj.neuron("conv1", 3, x=4, y=1) + obj.channel("conv2", 0)]
    layers = {"conv1": conv1, "conv2": conv2}
    loss = batched.ObjectivesLoss(objectives, layers, {name: batched.LayerView.of(model, name) for name in layers},
                                  {name: name for name in layers})
    sample = loss.batch_inputs(objectives, [loss.sample_data(o) for o in objectives], batched.group_ids(objectives))
    loss_model = keras.Model(model.inputs[0], loss.build_loss())

    def values_and_gradient(images, sample):
        def value(images):
            values = -loss.per_sample_loss(loss_model(images), sample)
            return ops.sum(values), values
        _, values, (grad,) = value_and_gradients(value, images)
        return values, grad

    images = np.random.default_rng(8).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    sample = keras.tree.map_structure(ops.convert_to_tensor, sample)
    values, grad = _compiled(values_and_gradient)(ops.convert_to_tensor(images), sample)
    return {"objective values": ops.convert_to_numpy(values), "objective gradient": ops.convert_to_numpy(grad)}


def outputs():
    """Every check's result on the active backend, numpy arrays by name."""
    from actmax_widgets import (backprop_modifiers, callbacks, losses, objectives, regularizers,  # noqa: F401
                                relu_warmup, target_head, tokens, vit)
    from actmax_widgets.objectives import algebra, batched, compiled  # noqa: F401
    # Importing them, not running them: Keras itself imports an installed TensorFlow when it
    # serializes a layer's config (clone_model), whatever the backend.
    imported = np.array("tensorflow" in sys.modules)
    return {**_modifiers(), **_redirected(), **_losses(), **_target_head(), **_objectives(),
            "imported tensorflow": imported}


def under(backend):
    """``outputs()`` computed in a fresh process with ``KERAS_BACKEND=backend``."""
    return backend_processes.outputs(os.path.abspath(__file__), backend)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    np.savez(sys.argv[1], **outputs())
