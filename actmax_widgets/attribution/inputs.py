"""The images and targets of an attribution call, as one batch the compiled step takes.

Pictures (a path, uploaded bytes, a PIL image, a uint8 array) are in 0..255 and mapped onto the
model's ``input_range``; a float array is taken to be the model's input already (keras-vis's
``seed_input``: the MNIST example passes ``x_test[i]`` in 0..1) and keeps its values. Either is
fitted (centre crop, resize: ``photos.fit_photo``) to the model's input size when it differs,
so the maps are of the photo as the model sees it.
"""
from __future__ import annotations

import os

import numpy as np

from .. import arguments, catalogue, model_cut, photos


def _is_one_photo(value):
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return np.ndim(value) <= 3 or np.shape(value)[0] == 1
    return not isinstance(value, (list, tuple))  # a PIL image, or something load_photo refuses


def _one(value, channels, channels_first, input_range, argument):
    """One picture or model-input array as float32 (H, W, C) in the model's value range."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and np.issubdtype(np.asarray(value).dtype, np.floating):
        array = np.asarray(value, dtype="float32")
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if channels_first and array.ndim == 3 and array.shape[0] == channels and array.shape[-1] != channels:
            array = np.moveaxis(array, 0, -1)  # a channels-first model's own layout
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
            raise ValueError(f"{argument} has shape {array.shape}, not an image: pass (H, W), (H, W, C) or "
                             f"(N, H, W, C) arrays (C = {channels}, the model's channels).")
        if not np.isfinite(array).all():
            raise ValueError(f"{argument} contains NaN or infinite values: pass finite pixel values.")
        return photos.to_channels(array, channels)  # gray <-> colour; the values keep their range
    picture = photos.load_photo(value, channels=channels, argument=argument)
    low, high = input_range
    return picture * np.float32((high - low) / 255.0) + np.float32(low)


def model_images(model, images, *, input_range=(0, 255), argument="images") -> np.ndarray:
    """``images`` (one picture or many) as a float32 channels-last batch at the model's input size.

    A model that takes any size gets the first image's size (the others are fitted to it).
    """
    arguments.check_range("input_range", input_range)
    spatial, channels = model_cut.input_image_size(model)
    if len(spatial) != 2:
        raise ValueError(f"Model '{model.name}' takes input of shape {tuple(spatial)} + channels; saliency and "
                         "Grad-CAM here take images (H, W, C): pass a model with 2-D image input.")
    channels_first = catalogue.model_is_channels_first(model)
    items = [images] if _is_one_photo(images) else list(images)
    if not items:
        raise ValueError(f"{argument} is empty: pass at least one photo.")
    loaded = [_one(item, int(channels), channels_first, input_range, f"{argument}[{k}]" if len(items) > 1 else argument)
              for k, item in enumerate(items)]
    size = tuple(int(d) if d is not None else loaded[0].shape[k] for k, d in enumerate(spatial))
    return np.stack([item if item.shape[:2] == size else photos.fit_photo(item, size) for item in loaded])


def pair_up(targets, n_images, argument="targets"):
    """``(targets, repeat_images)``: one target per image. One target serves every image; one
    image serves every target (``repeat_images`` True); otherwise the counts must match."""
    entries = targets if isinstance(targets, (list, tuple)) else [targets]
    if not entries:
        raise ValueError(f"{argument} is empty: pass a class or filter index, or a list of them.")
    if len(entries) == n_images:
        return list(entries), False
    if len(entries) == 1:
        return list(entries) * n_images, False
    if n_images == 1:
        return list(entries), True
    raise ValueError(f"{argument} has {len(entries)} entries for {n_images} images: pass one target per image, "
                     "one target for all of them, or one image for several targets.")
