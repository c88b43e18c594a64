"""keras-vis 0.4.1's saliency and CAM functions: its names, signatures and defaults, as thin
wrappers over the batched ``saliency_maps`` and ``grad_cam`` (one image, one joint target).

As in keras-vis, a softmax layer is scored as it is (its examples swap in a linear activation
with ``utils.apply_modifications`` first) and ``seed_input`` is the model's input as given.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .. import arguments, catalogue, grad_modifiers, model_facts, utils
from ..backend import autodiff
from ..engine import Problem
from . import gradients
from .cam import cam_step, grad_cam
from .saliency import saliency_maps


def visualize_saliency(model, layer_idx, filter_indices, seed_input, wrt_tensor=None,
                       backprop_modifier=None, grad_modifier="absolute", keepdims=False):
    """The saliency map of ``seed_input`` for ``filter_indices`` of ``layer_idx`` (keras-vis's API).

    ``filter_indices``: an index or a list maximized jointly (None: all). ``wrt_tensor``: the
    gradient with respect to this tensor (``model.get_layer(name).output``) instead of the input.
    ``backprop_modifier``: ``'guided'``, ``'rectified'`` (``'relu'``). ``grad_modifier``:
    ``'absolute'`` (default), ``'relu'``, ``'negate'``, None. Returns the map, ``(H, W)``
    (``keepdims``: ``(H, W, C)``), scaled to [0, 1].
    """
    return saliency_maps(model, layer_idx, [_joint(model, layer_idx, filter_indices)], seed_input,
                         backprop_modifier=backprop_modifier, grad_modifier=grad_modifier, keepdims=keepdims,
                         logits=False, wrt_layer=_layer_of(model, wrt_tensor))[0]


def visualize_cam(model, layer_idx, filter_indices, seed_input, penultimate_layer_idx=None,
                  backprop_modifier=None, grad_modifier=None):
    """The Grad-CAM heatmap of ``seed_input`` for ``filter_indices`` of ``layer_idx`` (keras-vis's API).

    ``penultimate_layer_idx``: the layer whose feature maps are weighted (default: the nearest
    conv or pooling layer before, as keras-vis finds it). Returns ``(H, W)`` in [0, 1] at the
    input's size.
    """
    return grad_cam(model, layer_idx, [_joint(model, layer_idx, filter_indices)], seed_input,
                    penultimate_layer=penultimate_layer_idx, backprop_modifier=backprop_modifier,
                    grad_modifier=grad_modifier, logits=False)[0]


def visualize_saliency_with_losses(input_tensor, losses, seed_input, wrt_tensor=None, grad_modifier="absolute",
                                   keepdims=False):
    """The saliency map of ``seed_input`` for weighted ``losses`` (keras-vis's API): the gradient of
    their weighted sum with respect to ``wrt_tensor`` (default: ``input_tensor``), modified, the
    maximum over channels unless ``keepdims``, scaled to [0, 1]."""
    arguments.check(losses=losses)
    keepdims = arguments.check_bool("keepdims", keepdims)
    channels_first = keras.config.image_data_format() == "channels_first"
    grads, _, _ = loss_gradients(input_tensor, losses, seed_input, wrt_tensor)
    modifier = grad_modifiers.get(grad_modifier)
    grads = grads if modifier is None else np.asarray(modifier(grads))
    if not keepdims:
        grads = grads.max(axis=1 if channels_first and grads.ndim > 2 else -1)
    return utils.normalize(grads)[0]


def visualize_cam_with_losses(input_tensor, losses, seed_input, penultimate_layer, grad_modifier=None):
    """The Grad-CAM heatmap of ``seed_input`` for weighted ``losses`` (keras-vis's API):
    ``penultimate_layer``'s feature maps weighted by the mean gradient of the losses, ReLU'd,
    upsampled to the input's size and scaled to [0, 1]."""
    arguments.check(losses=losses)
    if len(penultimate_layer.output.shape) < 3:
        raise ValueError(f"penultimate_layer '{penultimate_layer.name}' outputs shape "
                         f"{tuple(penultimate_layer.output.shape)}, which has no spatial map for Grad-CAM to show: "
                         "pass a conv or pooling layer.")
    channels_first = keras.config.image_data_format() == "channels_first"
    grads, features, _ = loss_gradients(input_tensor, losses, seed_input, penultimate_layer.output)
    image = np.zeros((1,) + _input_shape(input_tensor, channels_first), "float32")
    post = cam_step(grad_modifiers.get(grad_modifier), False, 1 if channels_first else features.ndim - 1)
    cam = post(None, ops.convert_to_tensor(features), ops.convert_to_tensor(grads), ops.convert_to_tensor(image))
    return gradients.normalize_maps(ops.convert_to_numpy(cam))[0]


def overlay(array1, array2, alpha=0.5):
    """``array1 * alpha + array2 * (1 - alpha)`` in ``array1``'s dtype (keras-vis's API), e.g. a
    jet-coloured heatmap over the photo."""
    alpha = arguments.check_number("alpha", alpha, 0.0, 1.0, fix="pass a value in 0..1, e.g. alpha=0.5")
    array1, array2 = np.asarray(array1), np.asarray(array2)
    if array1.shape != array2.shape:
        raise ValueError(f"array1 has shape {array1.shape} and array2 {array2.shape}: overlay blends arrays of the "
                         "same shape (resize one, or colour a (H, W) heatmap into (H, W, 3)).")
    return (array1 * alpha + array2 * (1.0 - alpha)).astype(array1.dtype)


def _joint(model, layer_idx, filter_indices):
    """``filter_indices`` as ONE joint target (keras-vis maximized a list together); None: all.
    Checked here, so an error names ``filter_indices``."""
    facts = model_facts.of(model)
    info = catalogue.describe_layer(facts.working, facts.working_name(layer_idx))
    checked = catalogue.check_filter_indices(info, filter_indices)
    return [index for entry in checked for index in utils.listify(entry)]


def _layer_of(model, wrt_tensor):
    """The layer whose output ``wrt_tensor`` is (None for the model input)."""
    history = _history_of(wrt_tensor)
    if history is None or wrt_tensor is utils.model_input(model):
        return None
    return history.operation


def _history_of(wrt_tensor):
    """Keras's record of the layer that made ``wrt_tensor``; None for no tensor or the input."""
    if wrt_tensor is None:
        return None
    history = getattr(wrt_tensor, "_keras_history", None)
    if history is None:
        raise TypeError(f"wrt_tensor={arguments.show(wrt_tensor)} is not a tensor of the model: pass a layer's "
                        "output, e.g. wrt_tensor=model.get_layer('block1_conv2').output, or None for the input.")
    return None if isinstance(history.operation, keras.layers.InputLayer) else history


def wrt_in(facts, model, wrt_tensor):
    """The output, in ``model`` (the working model, after any modifier: its layers keep their
    names), of the layer whose output in the user's model is ``wrt_tensor``; None for the input."""
    history = _history_of(wrt_tensor)
    if history is None:
        return None
    name = facts.working_name(history.operation)  # a trivial model's facts give the layer back
    return model.get_layer(name if isinstance(name, str) else history.operation.name).output


def _input_shape(input_tensor, channels_first):
    shape = tuple(input_tensor.shape[1:])
    return shape[1:] + shape[:1] if channels_first else shape


def loss_gradients(input_tensor, losses, seed_input, wrt_tensor):
    """``(grads, wrt_value, loss_values)`` for one ``seed_input`` (the model's layout): the gradient
    of the weighted sum of ``losses`` with respect to ``wrt_tensor`` (None: the input), the value
    of that tensor, and each loss's value; arrays in the layout of their tensors."""
    channels_first = keras.config.image_data_format() == "channels_first"
    problem = Problem(input_tensor, [(loss, weight) for loss, weight in losses], channels_first=channels_first)
    seed = np.asarray(seed_input, dtype="float32")
    seed = seed[None] if seed.ndim == len(input_tensor.shape) - 1 else seed
    if any(d is not None and d != s for d, s in zip(input_tensor.shape[1:], seed.shape[1:])) or len(seed) != 1:
        raise ValueError(f"seed_input has shape {np.shape(seed_input)}; the model takes one input of shape "
                         f"{tuple(input_tensor.shape[1:])}: resize it to that (with or without a batch axis of 1).")
    to_input = wrt_tensor is None or wrt_tensor is input_tensor
    outputs = list(problem.loss_model.outputs)
    if not to_input and not any(gradients.depends_on(output, wrt_tensor) for output in outputs):
        raise ValueError("The losses do not depend on wrt_tensor / penultimate_layer: pick a layer before the one "
                         "the losses read.")
    x = ops.convert_to_tensor(seed)
    # The losses as a function of ``wrt_tensor`` (an argument: what every backend differentiates),
    # the image as a second input for connections that skip past it.
    wrt_value = x if to_input else keras.Model(input_tensor, wrt_tensor)(x, training=False)
    model = keras.Model(input_tensor if to_input else [input_tensor, wrt_tensor], outputs)

    def total(value):
        values = model(value if to_input else [x, value], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        return sum(ops.sum(ops.cast(v, "float32")) * float(weight)
                   for v, weight in zip(values, problem.default_weights)), values

    _, values, (grads,) = autodiff.value_and_gradients(total, wrt_value)
    return (ops.convert_to_numpy(grads), ops.convert_to_numpy(wrt_value),
            [ops.convert_to_numpy(v) for v in values])
