"""Regularizers: losses on the image itself that keep it natural-looking.

Both normalise by the number of image values, as keras-vis, so their weights mean the same thing
at any image size. Each returns one value per sample.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from . import arguments
from .losses import Loss


def _image_layout(img_input, channel_axis):
    rank = len(img_input.shape)
    if channel_axis is None:
        channel_axis = 1 if keras.config.image_data_format() == "channels_first" else rank - 1
    channel_axis %= rank
    spatial = [a for a in range(1, rank) if a != channel_axis]
    n_values = math.prod(int(d) for d in img_input.shape[1:] if d is not None)
    return channel_axis, spatial, n_values


def _normalize(img_input, value):
    if any(d is None for d in img_input.shape[1:]):
        # Unknown size at build time: count the values when it runs (a symbolic shape has
        # no size to multiply).
        axes = list(range(1, len(img_input.shape)))
        n_values = ops.sum(ops.ones_like(img_input, dtype=value.dtype), axis=axes)
        return value / n_values
    return value / math.prod(int(d) for d in img_input.shape[1:])


class TotalVariation(Loss):
    """Total variation ``Σ (Δx² + Δy² + ...)^(β/2)``: penalises neighbouring pixels that differ.

    Favours smooth, blob-like images; ``beta`` > 1 tolerates a few sharp edges less than many
    small ones. Works for any number of image dimensions (1-D signals, 2-D images, volumes).

    Parameters
    ----------
    img_input : symbolic tensor
        The model input (``utils.model_input(model)``).
    beta : float
        The exponent β.
    channel_axis : int, optional
        Where the channels are; default from ``keras.config.image_data_format()``.
    """

    def __init__(self, img_input, beta=2.0, channel_axis=None):
        arguments.check_number("beta", beta, above=0, fix="use an exponent > 0, e.g. TotalVariation(image, beta=2.0)")
        self.name = f"TV({beta}) Loss"
        self.img = img_input
        self.beta = beta
        self.channel_axis = channel_axis

    def build_loss(self):
        img = self.img
        channel_axis, spatial, _ = _image_layout(img, self.channel_axis)
        if not spatial:
            raise ValueError(
                f"TotalVariation needs an input with spatial dimensions (an image, a sequence or a "
                f"volume); this input has shape {tuple(img.shape)}. Use tv_weight=0 for such inputs."
            )
        rank = len(img.shape)
        known_size = all(d is not None for d in img.shape[1:])
        tv = _squared_differences_rolled(img, spatial) if known_size else _squared_differences(img, spatial)
        if self.beta != 2.0:  # beta = 2 is the plain sum of squares: no power needed
            tv = ops.power(tv + 1e-12, self.beta / 2.0)
        return _normalize(img, ops.sum(tv, axis=list(range(1, rank))))


def _squared_differences(img, spatial):
    """Σ over spatial axes of (x[i+1] − x[i])², on the pixels that have all their neighbours."""
    rank = len(img.shape)
    tv = None
    for axis in spatial:
        # The difference along `axis`, cropped by one along the other spatial axes so all
        # the squared differences line up on the same pixels.
        ahead = [slice(None)] * rank
        behind = [slice(None)] * rank
        for other in spatial:
            ahead[other] = slice(1, None) if other == axis else slice(None, -1)
            behind[other] = slice(None, -1)
        diff_square = ops.square(img[tuple(ahead)] - img[tuple(behind)])
        tv = diff_square if tv is None else tv + diff_square
    return tv


def _squared_differences_rolled(img, spatial):
    """The same sums as ``_squared_differences`` for a known size, by rolling and a 0/1 mask.

    Strided-slice gradients dominated the step on small nets (19% of EfficientNet-Lite0's step
    time, bench/RESULTS.md §7); a roll's gradient is a roll, and the mask drops the wrapped-around
    row and the last row and column, which keras-vis's crop leaves out.
    """
    tv = None
    for axis in spatial:
        diff_square = ops.square(ops.roll(img, shift=-1, axis=axis) - img)
        tv = diff_square if tv is None else tv + diff_square
    mask = np.ones([1] + [int(d) for d in img.shape[1:]], dtype="float32")
    for axis in spatial:
        index = [slice(None)] * mask.ndim
        index[axis] = -1
        mask[tuple(index)] = 0.0
    return tv * ops.convert_to_tensor(mask, dtype=img.dtype)


def _integer_power(x, n):
    """``x ** n`` for a positive integer ``n`` by repeated squaring (``pow`` is far slower)."""
    result = None
    while n:
        if n & 1:
            result = x if result is None else result * x
        n >>= 1
        if n:
            x = x * x
    return result


class LPNorm(Loss):
    """The p-norm of the image ``(Σ |x|^p)^(1/p)``: keeps values from growing without bound.

    ``p = inf`` is the maximum. ``p < 1`` is not a norm and is refused.
    """

    def __init__(self, img_input, p=6.0):
        if not (isinstance(p, (int, float)) and p == math.inf):
            arguments.check_number("p", p, minimum=1, fix="p value should range between [1, inf): e.g. "
                                                           "LPNorm(image, p=6.0), or p=math.inf for the maximum")
        self.name = f"L-{p} Norm Loss"
        self.p = p
        self.img = img_input

    def build_loss(self):
        img = self.img
        axes = list(range(1, len(img.shape)))
        if math.isinf(self.p):
            value = ops.max(img, axis=axes)
        else:
            # Scale out the largest value before the power so p=6 on 0..255 images stays finite
            # in float32 (255^6 · 50k pixels is near float32's limit, more pixels overflow).
            scale = ops.stop_gradient(ops.max(ops.abs(img), axis=axes, keepdims=True)) + 1e-12
            scaled = ops.abs(img) / scale
            powered = (_integer_power(scaled, int(self.p)) if float(self.p).is_integer()
                       else ops.power(scaled, self.p))
            value = ops.power(ops.sum(powered, axis=axes), 1.0 / self.p)
            value = value * ops.reshape(scale, (-1,))
        return _normalize(img, value)
