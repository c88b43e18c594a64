"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhay et al. 2018), batched: where in
each image the feature maps of a late conv/pooling layer support the target's score."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .. import arguments, catalogue, grad_modifiers
from . import gradients, prepare as prepare_module

# The layers keras-vis took for Grad-CAM's feature maps (its _Conv and _Pooling classes); global
# pooling has no spatial map.
SPATIAL_LAYERS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D, keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D)


def grad_cam(model, layer, targets, images, *, penultimate_layer=None, plus_plus=False, backprop_modifier=None,
             grad_modifier=None, logits=True, input_range=(0, 255), batch_size=32) -> np.ndarray:
    """One Grad-CAM heatmap per (image, target), at the images' size, all in one compiled step.

    ``layer``, ``targets``, ``images``, ``backprop_modifier``, ``logits``: as ``saliency_maps``.

    Parameters
    ----------
    penultimate_layer : int or str, optional
        The layer whose feature maps are weighted; default: the nearest conv or pooling layer
        before ``layer`` as keras-vis finds it (it skips the layer right before ``layer``).
    plus_plus : bool
        Grad-CAM++: each position's gradient weighted by higher-order terms, which spreads the
        map over several instances of the class instead of the strongest one.
    grad_modifier : str or callable, optional
        Applied to the feature maps' gradients (keras-vis's ``visualize_cam`` option).

    Returns
    -------
    np.ndarray
        ``(N, H, W)`` float32 in [0, 1], 1 at each map's maximum.
    """
    plus_plus = arguments.check_bool("plus_plus", plus_plus)
    batch_size = arguments.check_int("batch_size", batch_size, 1)
    modifier = grad_modifiers.get(grad_modifier)
    job = prepare_module.prepare(model, layer, targets, images, backprop_modifier=backprop_modifier,
                                 logits=logits, input_range=input_range)
    feature_maps = penultimate_info(job.model, job.info, None if penultimate_layer is None else
                                    prepare_module.layer_name(model, penultimate_layer), job.name, penultimate_layer)
    post_key = ("grad_cam", plus_plus, gradients.option_key(grad_modifier))
    post = cam_step(modifier, plus_plus, feature_maps.channel_axis)
    step = gradients.step_for(job.model, job.info, feature_maps, post, post_key, job.images.shape[1:])
    return gradients.normalize_maps(step(job.images, job.masks, batch_size))


def penultimate_info(model, target, penultimate_name, target_name, penultimate_layer=None):
    """The ``LayerInfo`` of the feature maps: layer ``penultimate_name`` of ``model`` (the user's
    ``penultimate_layer``), or keras-vis's choice."""
    if penultimate_name is None:
        # keras-vis searched model.layers[:layer_idx - 1] backwards: the layer right before the
        # target is never taken (the pooling before a classifier is global).
        found = next((k for k in range(target.index - 2, -1, -1)
                      if isinstance(model.layers[k], SPATIAL_LAYERS)), None)
        if found is None:
            raise ValueError(f"layer '{target_name}': no conv or pooling layer before it to take Grad-CAM's feature "
                             "maps from: pass penultimate_layer (or penultimate_layer_idx), a layer with a "
                             "spatial output before it.")
        return catalogue.describe_layer(model, model.layers[found].name)  # an int would index the user's layers
    info = catalogue.describe_layer(model, penultimate_name)
    if len(info.output_shape) < 3:
        raise ValueError(f"penultimate_layer={penultimate_layer!r} outputs shape {info.output_shape}, which has no "
                         "spatial map for Grad-CAM to show: pick a conv or pooling layer before "
                         f"'{target_name}' (e.g. the last convolution), or leave it None.")
    if info.kind == "tokens":  # (B, tokens, C): the class token has no place, the patches need tokens.to_grid
        raise ValueError(f"penultimate_layer={penultimate_layer!r} outputs a transformer's tokens {info.output_shape}, "
                         "which Grad-CAM does not map onto the image: pick a conv layer before the tokens "
                         "(e.g. the patch embedding), or use saliency_maps(...).")
    if info.index >= target.index:
        raise ValueError(f"penultimate_layer={penultimate_layer!r} comes after layer '{target_name}': Grad-CAM "
                         "weighs the feature maps of a layer before the target; pick an earlier one or leave it None.")
    return info


def cam_step(modifier, plus_plus, channel_axis):
    """The ``keras.ops`` code turning feature maps and their gradients into heatmaps at the
    images' size: ``post(scores, features, grads, images) -> (N, H, W)``, not yet scaled."""

    def post(scores, features, grads, images):
        rank = len(features.shape)
        if channel_axis == 1:  # channels-first feature maps: channels last, like the images
            order = [0] + list(range(2, rank)) + [1]
            features, grads = ops.transpose(features, order), ops.transpose(grads, order)
        features, grads = ops.cast(features, "float32"), ops.cast(grads, "float32")
        if modifier is not None:
            grads = modifier(grads)
        spatial = tuple(range(1, rank - 1))
        weights = _plus_plus_weights(features, grads, spatial) if plus_plus else ops.mean(
            grads, axis=spatial, keepdims=True)
        # ReLU: only the evidence for the target, not the evidence against it.
        cam = ops.relu(ops.sum(weights * features, axis=-1))
        if rank == 4:  # 2-D maps, upsampled to the image
            cam = ops.image.resize(cam[..., None], tuple(images.shape[1:3]), interpolation="bilinear",
                                   data_format="channels_last")[..., 0]
        return cam

    return post


def _plus_plus_weights(features, grads, spatial):
    """Grad-CAM++'s channel weights, with the exponential of the score left out: it scales the
    first, second and third derivatives alike, so the heatmap (scaled to [0, 1]) is the same,
    and exp(a logit of 90) overflows float32."""
    second, third = grads ** 2, grads ** 3
    total = ops.sum(features, axis=spatial, keepdims=True)
    denominator = 2.0 * second + third * total
    alphas = second / ops.where(denominator != 0.0, denominator, ops.ones_like(denominator))
    norm = ops.sum(alphas, axis=spatial, keepdims=True)
    alphas = alphas / ops.where(norm != 0.0, norm, ops.ones_like(norm))
    return ops.sum(alphas * ops.relu(grads), axis=spatial, keepdims=True)
