"""Helpers that keras-vis users know from ``vis.utils.utils``, on Keras 3.

``from vis.utils import utils`` becomes ``from actmax_widgets import utils``; the names, signatures
and defaults are keras-vis's.
"""
from __future__ import annotations

import math
import sys

import keras
import numpy as np


class _BackendAgnosticImageSlice:
    """Write slices channels-first and get the right slice for the configured data format.

    ``x[utils.slicer[:, idx, ...]]`` selects channel ``idx`` whether ``keras.config.image_data_format()``
    is ``'channels_first'`` or ``'channels_last'``, so one loss definition serves both.
    """

    def __getitem__(self, item_slice):
        if keras.config.image_data_format() == "channels_first":
            return item_slice
        item_slice = list(item_slice if isinstance(item_slice, tuple) else (item_slice,))
        if len(item_slice) < 2:
            return tuple(item_slice)
        # The channel index moves behind the spatial ones. With an Ellipsis in the spatial
        # position that is a trailing index, which is exactly the channels-last channel.
        item_slice.append(item_slice.pop(1))
        return tuple(item_slice)


slicer = _BackendAgnosticImageSlice()


def listify(value):
    """``value`` as a list: a list or tuple stays, anything else becomes ``[value]``."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return [value]


def lookup(table, identifier, what, choices):
    """``identifier`` itself if it is ``None`` or callable, else ``table[identifier]``.

    The shared rule of the modifier arguments (``grad_modifier='negate'`` or a function); an
    unknown name raises a ValueError that names ``what`` and lists ``choices``.
    """
    if identifier is None or callable(identifier):
        return identifier
    try:
        return table[identifier]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown {what} {identifier!r}: use {choices}.") from None


def find_layer_idx(model, layer_name):
    """Index of the layer called ``layer_name`` in ``model.layers``.

    Raises
    ------
    ValueError
        If no layer has that name; the message lists the names that do exist.
    """
    for idx, layer in enumerate(model.layers):
        if layer.name == layer_name:
            return idx
    names = [layer.name for layer in model.layers]
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(f"No layer with name '{layer_name}' in model '{model.name}'. Layers: {shown}")


def get_img_shape(img):
    """Shape of an image tensor or array in ``(samples, channels, image_dims...)`` order."""
    shape = tuple(img.shape)
    if keras.config.image_data_format() == "channels_last":
        shape = (shape[0], shape[-1]) + shape[1:-1]
    return shape


def model_input(model):
    """The single symbolic input of ``model`` (works for Sequential models, where Keras 3's
    ``model.input`` raises until the model has been called)."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise TypeError(
            f"Model '{model.name}' has no symbolic input: subclassed (or unbuilt) models cannot be "
            "cut at a layer. Rebuild it as a functional model (keras.Input(...) -> layers -> "
            "keras.Model(inputs, outputs)) or a Sequential model that starts with keras.Input(shape)."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(inputs)} inputs; activation maximization optimizes one "
            "image. Build a single-input model that feeds the others with constants, e.g. "
            "keras.Model(image_input, model([image_input, constant_input]))."
        )
    return inputs[0]


def apply_modifications(model, custom_objects=None):
    """Make changes to layer attributes (e.g. a Dense ``activation``) take effect.

    keras-vis saved and reloaded the model for this, which broke custom layers. In Keras 3 a
    functional graph calls each layer's ``call`` afresh, so the change already reaches new graphs;
    what can be stale are functions Keras traced and cached on the model object (``predict``).
    This returns a new model over the same layers (and weights), with no such caches.

    A ``Sequential`` model gets fresh layers rebuilt from their configs (so a change must show in
    ``layer.get_config()``, as with keras-vis's reload) and the same weights: putting its layers
    into a second Sequential graph would leave their ``layer.output`` in the first one, which
    ``visualize_*`` and custom losses read.

    ``custom_objects`` is accepted for keras-vis compatibility and not needed.
    """
    del custom_objects
    if isinstance(model, keras.Sequential):
        model_input(model)  # a clear error for an unbuilt Sequential
        rebuilt = keras.models.clone_model(model)
        rebuilt.set_weights(model.get_weights())
        return rebuilt
    return keras.Model(model.input, model.output, name=model.name)  # the same structure (tensor, list, dict)


def random_array(shape, mean=128.0, std=20.0, rng=None):
    """A Gaussian random array (float32), as keras-vis's seed images."""
    rng = np.random.default_rng() if rng is None else rng
    return (rng.standard_normal(shape) * std + mean).astype("float32")


def deprocess_input(input_array, input_range=(0, 255)):
    """Turn an optimized input into something displayable, as keras-vis.

    Centre on 0, scale to standard deviation 0.1, shift to 0.5, clip to ``[0, 1]`` and map to
    ``input_range``. The result is ``uint8`` (rounded) when ``input_range`` is a pair of ints
    within 0..255 (the usual ``(0, 255)``), float32 otherwise: ``uint8`` cannot hold e.g.
    ``(-1, 1)``.
    """
    x = np.array(input_array, dtype="float64", copy=True)
    x -= x.mean()
    x /= x.std() + keras.config.epsilon()
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0.0, 1.0)
    low, high = input_range
    x = (high - low) * x + low
    if all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in (low, high)):
        return np.round(x).astype("uint8")
    return x.astype("float32")


def stitch_images(images, margin=5, cols=5):
    """Stitch images into a grid, row by row, ``cols`` per row with ``margin`` pixels between.

    Returns ``None`` for an empty list, as keras-vis.
    """
    if len(images) == 0:
        return None
    h, w, c = images[0].shape
    n_rows = int(math.ceil(len(images) / cols))
    n_cols = min(len(images), cols)
    out_w = n_cols * w + (n_cols - 1) * margin
    out_h = n_rows * h + (n_rows - 1) * margin
    stitched = np.zeros((out_h, out_w, c), dtype=images[0].dtype)
    for img_idx, image in enumerate(images):
        row, col = divmod(img_idx, cols)
        top, left = (h + margin) * row, (w + margin) * col
        stitched[top:top + h, left:left + w, :] = image
    return stitched


def draw_text(img, text, position=(10, 10), font="FreeSans.ttf", font_size=14, color=(0, 0, 0)):
    """A copy of ``img`` (``uint8``, ``(H, W, C)``) with ``text`` drawn at ``position``, as keras-vis.

    ``font`` is a TrueType file name or path; Pillow's default font is used when it is not found.
    """
    from PIL import Image, ImageDraw, ImageFont

    from .render import _font

    try:
        face = ImageFont.truetype(font, font_size)
    except OSError:
        face = _font(font_size)
    array = np.asarray(img, dtype="uint8")
    grey = array.ndim == 3 and array.shape[-1] == 1
    image = Image.fromarray(array[..., 0] if grey else array)
    fill = int(np.mean(color)) if image.mode == "L" else tuple(color)
    ImageDraw.Draw(image).text(tuple(position), str(text), fill=fill, font=face)
    out = np.asarray(image)
    return out[..., None] if grey else out


def get_imagenet_label(indices, join=", "):
    """The ImageNet class name(s) of ``indices`` (one index or a list), joined with ``join``."""
    from .models import imagenet_labels  # the table ships with the package; loaded on first use

    labels = imagenet_labels()
    return join.join(labels[int(index)] for index in listify(indices))


def lookup_imagenet_labels(indices):
    """The ImageNet class names of ``indices`` (one index or a list), as a list (keras-vis)."""
    from .models import imagenet_labels

    labels = imagenet_labels()
    return [labels[int(index)] for index in listify(indices)]


def normalize(array, min_value=0., max_value=1.):
    """``array`` min-max scaled to ``(min_value, max_value)`` over all its values (keras-vis)."""
    array = np.asarray(array)
    low, high = np.min(array), np.max(array)
    normalized = (array - low) / (high - low + keras.config.epsilon())
    return (max_value - min_value) * normalized + min_value


def load_img(path, grayscale=False, target_size=None):
    """The image file ``path`` as a uint8 array ``(H, W, 3)`` (``grayscale``: ``(H, W)``),
    resized to ``target_size`` ``(height, width)`` when given, as keras-vis's ``load_img``.
    Unreadable files, wrong paths and huge images get ``photos.load_photo``'s clear errors."""
    from . import photos

    image = photos.load_photo(path, channels=1 if grayscale else 3, argument="path")
    if target_size is not None:
        height, width = (int(target_size), int(target_size)) if np.ndim(target_size) == 0 else \
            (int(target_size[0]), int(target_size[1]))
        image = photos.resize(image, (height, width))  # squashed, not cropped, as keras-vis's skimage resize
    image = np.clip(np.round(image), 0, 255).astype("uint8")
    return image[..., 0] if grayscale else image


def get_num_filters(layer):
    """The number of filters (conv channels) or units (dense outputs) of ``layer``, as keras-vis."""
    from .catalogue import channel_axis_of  # catalogue imports this module

    shape = tuple(layer.output.shape)
    channels_first = keras.config.image_data_format() == "channels_first"
    return int(shape[channel_axis_of(layer, len(shape), channels_first)])


def reverse_enumerate(iterable):
    """``enumerate`` backwards, keeping the indices (keras-vis)."""
    return zip(reversed(range(len(iterable))), reversed(iterable))


# ``from vis.utils import utils`` becomes ``from actmax_widgets.utils import utils``: the module
# answers to its own name.
utils = sys.modules[__name__]
