"""Saliency maps: how much each pixel's change would move the target's score (Simonyan et al.
2013), optionally averaged over noisy copies (SmoothGrad, Smilkov et al. 2017), batched."""
from __future__ import annotations

import numpy as np

from .. import arguments, catalogue, grad_modifiers
from . import gradients, prepare as prepare_module


def saliency_maps(model, layer, targets, images, *, backprop_modifier=None, grad_modifier="absolute",
                  smooth_samples=0, smooth_noise=0.2, keepdims=False, logits=True, input_range=(0, 255),
                  batch_size=32, seed=None, wrt_layer=None) -> np.ndarray:
    """One saliency map per (image, target), all in one compiled step.

    Parameters
    ----------
    model : keras.Model
    layer : int or str
        The layer whose unit or filter is explained (``'predictions'`` for a class).
    targets : int, list
        A class / filter index per image, one for all images, or several for one image; an entry
        that is a list is one joint target (its scores summed).
    images : photo or list of photos
        Paths, PNG/JPEG bytes, PIL images, uint8 arrays (0..255, mapped to ``input_range``) or
        float arrays (the model's input as it is); a ``(N, H, W, C)`` array is N images. Each is
        fitted to the model's input size (``photos.fit_photo``).
    backprop_modifier : str, optional
        ``'guided'`` (guided backpropagation) or ``'rectified'`` (deconvnet).
    grad_modifier : str or callable, optional
        Applied to each gradient: ``'absolute'`` (keras-vis's default), ``'relu'`` (only what
        raises the score), ``'negate'``, None (signed).
    smooth_samples : int
        0: plain gradients; n > 0: SmoothGrad, the mean over n copies with Gaussian noise of
        ``smooth_noise`` times each image's value range.
    keepdims : bool
        False: the maximum over channels, ``(N, H, W)``; True: ``(N, H, W, C)``.
    logits : bool
        Score a softmax layer's units before the softmax (see ``prepare``).
    wrt_layer : int or str, optional
        Take the gradient with respect to this layer's output instead of the image (keras-vis's
        ``wrt_tensor``): maps at that layer's resolution.

    Returns
    -------
    np.ndarray
        float32, each map scaled to [0, 1].
    """
    smooth_samples = arguments.check_int("smooth_samples", smooth_samples, 0, 1000,
                                         fix="pass 0 (no smoothing) or e.g. smooth_samples=20")
    smooth_noise = arguments.check_number("smooth_noise", smooth_noise, 0.0, 10.0, fix="pass e.g. smooth_noise=0.2")
    batch_size = arguments.check_int("batch_size", batch_size, 1)
    modifier = grad_modifiers.get(grad_modifier)
    keepdims = arguments.check_bool("keepdims", keepdims)
    job = prepare_module.prepare(model, layer, targets, images, backprop_modifier=backprop_modifier,
                                 logits=logits, input_range=input_range)
    post_key = ("saliency", gradients.option_key(grad_modifier))
    wrt = None if wrt_layer is None else catalogue.describe_layer(
        job.model, prepare_module.layer_name(model, wrt_layer))
    step = gradients.step_for(job.model, job.info, wrt, _post(modifier), post_key, job.images.shape[1:])
    images, masks, copies = job.images, job.masks, max(1, smooth_samples)
    if smooth_samples:
        images, masks = _noisy_copies(images, masks, smooth_samples, smooth_noise, np.random.default_rng(seed))
    grads = step(images, masks, batch_size)
    grads = grads.reshape((len(job.images), copies) + grads.shape[1:]).mean(axis=1)
    if wrt is not None and wrt.channel_axis == 1:  # a channels-first layer: channels last, like images
        grads = np.moveaxis(grads, 1, -1)
    maps = grads if keepdims else grads.max(axis=-1)
    return gradients.normalize_maps(maps)


def _post(modifier):
    def post(scores, wrt_value, grads, images):
        return grads if modifier is None else modifier(grads)

    return post


def _noisy_copies(images, masks, samples, noise, rng):
    """Each image ``samples`` times (consecutive) with noise of ``noise`` × its value range."""
    spread = images.max(axis=(1, 2, 3), keepdims=True) - images.min(axis=(1, 2, 3), keepdims=True)
    copies = np.repeat(images, samples, axis=0)
    sigma = np.repeat(noise * spread, samples, axis=0)
    return (copies + rng.standard_normal(copies.shape).astype("float32") * sigma).astype("float32"), \
        np.repeat(masks, samples, axis=0)
