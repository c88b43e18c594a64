"""Where each filter of a conv layer fires on one photo: its activation map, upsampled to the
photo (the widget overlays it on the photo beside the filter's synthetic image)."""
from __future__ import annotations

import threading
import weakref

import keras
import numpy as np
from keras import ops

from .. import arguments, catalogue, model_facts, utils
from ..backend.compiled import compiled
from . import inputs

_FORWARD = weakref.WeakKeyDictionary()  # working model -> {layer index: compiled forward pass}
_LOCK = threading.Lock()


def activation_maps(model, layer, filters, image, *, input_range=(0, 255)) -> np.ndarray:
    """``(F, H, W)`` float32 in [0, 1]: filter ``filters[f]``'s activation on ``image``, ReLU'd and
    divided by its own maximum (0 everywhere where the filter does not fire), bilinearly
    upsampled to the photo as the model sees it (``photos.fit_photo``; ``image``: as in
    ``saliency_maps``, one photo).
    """
    arguments.check(model=model, layer=layer)
    facts = model_facts.of(model)
    facts.check_computable()
    working = facts.working
    info = catalogue.describe_layer(working, facts.working_name(layer))
    if info.kind != "conv2d":
        raise ValueError(f"layer '{facts.catalogue_name(info.name)}' outputs shape {info.output_shape}, which has no "
                         "2-D map of where it fires: pick a conv layer, or use grad_cam(...) for a dense or class "
                         "layer.")
    indices = catalogue.check_filter_indices(info, filters)
    joint = next((entry for entry in indices if isinstance(entry, list)), None)
    if joint is not None:
        raise ValueError(f"filters entry {joint!r} is a joint target: activation_maps shows single filters; pass "
                         "their indices, e.g. filters=[0, 5].")
    batch = inputs.model_images(working, image, input_range=input_range, argument="image")
    if len(batch) != 1:
        raise ValueError(f"image holds {len(batch)} images: activation_maps takes one photo, e.g. image[0].")
    output = ops.convert_to_numpy(_forward(working, info)(batch))[0]
    if info.channel_axis == 1:
        output = np.moveaxis(output, 0, -1)
    maps = np.maximum(output[..., indices], 0.0)
    peak = maps.max(axis=(0, 1), keepdims=True)
    maps = np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype("float32")
    resized = ops.image.resize(maps[None], tuple(batch.shape[1:3]), interpolation="bilinear",
                               data_format="channels_last")[0]
    return np.clip(np.moveaxis(ops.convert_to_numpy(resized), -1, 0), 0.0, 1.0).astype("float32")


def _forward(working, info):
    with _LOCK:
        per_model = _FORWARD.setdefault(working, {})
        if info.index not in per_model:
            cut = keras.Model(utils.model_input(working), working.layers[info.index].output)
            channels_first = catalogue.model_is_channels_first(working)

            def forward(images):
                x = ops.transpose(images, [0, 3, 1, 2]) if channels_first else images
                return cut(x, training=False)

            shape = tuple(utils.model_input(working).shape[1:])
            image_shape = shape[1:] + shape[:1] if channels_first else shape
            forward = compiled(forward, cut.variables, [((None,) + image_shape, "float32")], differentiates=False)
            per_model[info.index] = forward
        return per_model[info.index]
