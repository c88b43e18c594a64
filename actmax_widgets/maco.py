"""MACO (Fel et al., NeurIPS 2023): the phase-only image parameterization with a fixed natural
magnitude spectrum, and the random crops plus noise through which the model sees it — the
``'maco'`` style's two parts.

Two settings, one switch (``canvas_scale``, given to both parts); in both the model sees
``STYLE_VIEWS`` (4) random crops of each image per step and the gradient is their mean (the
engine's ``views``; Xplique averages 32 crops per step of one objective):

- ``canvas_scale=1`` (the default, ``styles.MACO``): the canvas is the model's input and the
  crops stay at the whole image (side 1 ± 5%: a random zoom of up to ~10%); results are
  model-sized, as every other style's. At the deepest layers measured this beats fourier's
  activation (``bench/QUALITY.md``), which is what MACO is for.
- ``canvas_scale=1.5`` (``styles.MACO_CANVAS``, i.e. ``MacoImage(canvas_scale=1.5)`` with
  ``maco_crops(canvas_scale=1.5)``): a canvas 1.5 times the input, seen through crops shrinking
  from the whole canvas to model scale, as the paper does; the result is the larger canvas, with
  more detail, but below fourier's activation at every depth measured, at 96 and at 256 steps.

Kept apart from ``parameterizations`` and ``transforms`` because MACO's parts change together
(the canvas the image lives on and the crops the model sees of it). Written in ``keras.ops``
(and ``backend.fft``), so it runs on every Keras backend.
"""
from __future__ import annotations

import functools
import importlib.resources
import math

import numpy as np
from keras import ops

from . import arguments, parameterizations
from .backend import fft
from .parameterizations import FourierImage, _RunShape, _colours_in_range
from .input_modifiers import per_sample_take
from .transforms import Transform, _spatial_shape

# The canvas option's side ÷ the model's input side (styles.MACO_CANVAS): a larger image (more
# detail) whose parts the model saw at its own scale at the end of the crop schedule (crop side
# 1 / this). 1.5, not Xplique's ~2.3: the deep-layer activation at 96 steps falls as the canvas
# grows (Lite0 block6d_add, one view: 5.4 at 1.25, 4.3 at 1.5, 1.2-2.3 at 2; bench/QUALITY.md).
CANVAS_OPTION_SCALE = 1.5

# Random crops of each image the model sees per step, for both presets: the mean gradient over
# 4 crops raised Lite0 block6d_add's activation at 96 steps from 7.97 to 9.37 with whole-image
# crops (fourier 8.10) and from 4.30 to 5.10 on the 1.5x canvas, for 4x the compute per step
# (bench/QUALITY.md).
STYLE_VIEWS = 4

_MACO_SPECTRUM = "data/maco_spectrum.npy"  # made by tools/make_maco_spectrum.py (its docstring: how)


@functools.lru_cache(maxsize=16)
def maco_magnitude(height, width, channels=3):
    """``(channels, height, width)`` float32: the natural magnitude spectrum MACO keeps fixed, for
    ``numpy.fft.fft2``'s frequency layout at this size.

    The shipped spectrum (3 decorrelated colour channels, 128 px, averaged over crops of natural
    photos) is interpolated linearly at this size's frequencies, made symmetric (|X(k)| = |X(-k)|,
    as for any real image), its DC term set to 0 (a mean-0 image: mid-grey after the sigmoid) and
    scaled so the image has standard deviation 1 whatever its size. One channel: the first
    (luminance-like) one.
    """
    if channels not in (1, 3):
        raise ValueError(f"MacoImage makes 1- or 3-channel images; this input has {channels} channels: "
                         "use param='fourier' for other channel counts.")
    reference = np.load(importlib.resources.files(__package__) / _MACO_SPECTRUM).astype("float64")
    reference = reference[:channels]
    grid = np.fft.fftshift(np.fft.fftfreq(reference.shape[1]))

    def weights(size):  # (size, reference) linear interpolation at this size's frequencies
        return np.stack([np.interp(np.fft.fftfreq(size), grid, row) for row in np.eye(len(grid))], axis=1)

    magnitude = weights(height) @ reference @ weights(width).T
    magnitude = (magnitude + np.roll(magnitude[:, ::-1, ::-1], 1, axis=(1, 2))) / 2
    magnitude[:, 0, 0] = 0.0
    magnitude *= np.sqrt(channels * (height * width) ** 2 / np.sum(magnitude ** 2))
    return magnitude.astype("float32")


class MacoImage:
    """MACO (Fel et al., NeurIPS 2023): optimize only the Fourier phase of the image (or of a canvas
    larger than the model's input); the magnitude spectrum is fixed to that of natural photos
    (``maco_magnitude``).

    Whatever the optimizer does, the image keeps natural 1/f statistics, so deep layers cannot
    fill it with high-frequency noise (what makes Fourier images of deep nets unreadable). The
    parameters of each sample are one phase per channel and frequency, ``(C, H, W)`` at the
    canvas size; they are made antisymmetric (``phase(-k) = -phase(k)``) before use, which makes
    the spectrum that of a real image, so the image's magnitude spectrum equals ``maco_magnitude``
    exactly (the test checks it). As ``FourierImage``, 3-channel images are mixed with
    ``COLOR_CORRELATION_NORMALIZED`` (the spectrum was measured on photos un-mixed by its
    inverse) and a sigmoid maps them into ``input_range``.

    The canvas (``canvas_shape``) is ``canvas_scale`` times the model's input: the engine
    optimizes and returns images of that size. By default (1) that is the model's input, as for
    every other style. With ``canvas_scale=1.5`` and ``maco_crops(canvas_scale=1.5)``
    (``styles.MACO_CANVAS``) the model sees crops of a larger canvas shrinking from the whole
    canvas to model scale, resized to its input: more detail, each part drawn at the scale the
    model saw it, but below fourier's activation (``bench/QUALITY.md``).

    ``accumulates_attribution``: the engine sums |d objective / d image| over the steps, the
    alpha mask of ``ActMaxResult.alpha`` (where on the canvas the feature is).

    Parameters
    ----------
    contrast : float
        The standard deviation of the image before colour mixing and sigmoid. Xplique's 1 gives
        washed-out images under this package's linear display (Xplique contrast-stretches when it
        plots); 2 gives photo-like contrast and higher activations (``bench/QUALITY.md``).
    decorrelate : bool
        Mix 3-channel images with the colour correlation matrix.
    canvas_scale : float
        The canvas side ÷ the model's input side (>= 1; 1, the default: the model's own size).
        Give the crops the same value (``maco_crops(canvas_scale=...)``).
    """

    name = "maco"
    accumulates_attribution = True

    def __init__(self, contrast=2.0, decorrelate=True, canvas_scale=1.0):
        self.contrast = arguments.check_number("contrast", contrast, above=0, fix="use e.g. contrast=2.0")
        self.decorrelate = arguments.check_bool("decorrelate", decorrelate)
        self.canvas_scale = arguments.check_number("canvas_scale", canvas_scale, minimum=1,
                                                   fix="use 1 (the model's input size) or more, e.g. 1.5")
        self._run = _RunShape()

    @property
    def variables(self):
        """The state ``to_image`` reads in the compiled step: the input range, once a run set it."""
        return self._run.variables

    def canvas_shape(self, image_shape):
        """The shape of the optimized image for a model input of ``image_shape`` ``(H, W, C)``:
        each side ``canvas_scale`` times larger."""
        height, width, channels = FourierImage._spatial(image_shape)
        return (int(round(height * self.canvas_scale)), int(round(width * self.canvas_scale)), channels)

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        """``(B, C, H, W)`` phases at the canvas size ``image_shape`` (``canvas_shape`` of the
        model's), uniform in [-pi, pi), keyed per sample."""
        if seed_images is not None:
            raise ValueError("MacoImage starts from its own phases: seed images need param='pixel'.")
        height, width, channels = FourierImage._spatial(image_shape)
        maco_magnitude(height, width, channels)  # a bad channel count fails here, before tracing
        self._run.set(width, input_range)
        params = [np.random.default_rng(int(key) & 0xFFFFFFFFFFFF).uniform(-np.pi, np.pi, (channels, height, width))
                  for key in keys]
        return np.stack(params).astype("float32")

    def linear_image(self, params):
        """``(B, H, W, C)``: the image before colour mixing and sigmoid, whose magnitude spectrum
        is ``maco_magnitude`` (standard deviation 1, mean 0)."""
        params = ops.convert_to_tensor(params, "float32")
        channels, height, width = (int(d) for d in params.shape[1:])
        mirrored = ops.roll(ops.flip(params, axis=(2, 3)), shift=(1, 1), axis=(2, 3))  # phase(-k)
        phase = ((params - mirrored) / 2.0)[..., :width // 2 + 1]
        magnitude = ops.convert_to_tensor(maco_magnitude(height, width, channels)[..., :width // 2 + 1])
        images = fft.irfft2d(magnitude * ops.cos(phase), magnitude * ops.sin(phase), height, width)  # (B, C, H, W)
        return ops.transpose(images, (0, 2, 3, 1))

    def to_image(self, params):
        if self._run.input_range is None:
            raise RuntimeError("MacoImage.to_image needs init_params to be called first (it fixes the range).")
        return _colours_in_range(self.linear_image(params) * self.contrast, self.decorrelate, self._run.input_range)

    display = FourierImage.display  # the same linear mapping from the input range


parameterizations.register("maco", MacoImage)


def _normal(random, salt, n):
    """``(B, n)`` standard normal draws (Box-Muller on two keyed uniform draws)."""
    # A float32 draw can round up to exactly 1.0 (x / 2**32 for x near 2**32): keep log finite.
    radius = ops.sqrt(-2.0 * ops.log(ops.maximum(1.0 - random.uniform(salt, n), 2.0 ** -32)))
    return radius * ops.cos(2.0 * math.pi * random.uniform(salt + 1, n))


def _taps(start, side, size_in, size_out):
    """Bilinear taps along one axis for boxes ``[start, start + side)`` (fractions of the input
    side, ``(B, 1)``) sampled at ``size_out`` pixel centres: ``(first, second, weight of second)``,
    each ``(B, size_out)``. Outside the input the nearest edge pixel is read."""
    centres = (ops.arange(size_out, dtype="float32") + 0.5) / size_out  # (size_out,)
    source = (start + centres[None, :] * side) * size_in - 0.5
    source = ops.clip(source, 0.0, size_in - 1.0)
    first = ops.floor(source)
    index = ops.cast(first, "int32")
    return index, ops.minimum(index + 1, size_in - 1), source - first


def crop_and_resize(images, top, left, side, size):
    """Square-in-fractions crops of channels-last ``images`` ``(B, H, W, C)``, resized to ``size``
    ``(h, w)`` by bilinear sampling at pixel centres: ``top``, ``left`` and ``side`` ``(B, 1)`` are
    fractions of the image's height and width. Gathers, so the gradient to the image is exact; a
    whole-image crop at the image's own size is the image."""
    height, width = _spatial_shape(images)
    row_first, row_second, row_weight = _taps(top, side, height, size[0])
    row_weight = row_weight[:, :, None, None]
    picked = ((1.0 - row_weight) * per_sample_take(images, row_first, 1)
              + row_weight * per_sample_take(images, row_second, 1))  # (B, h, W, C)
    col_first, col_second, col_weight = _taps(left, side, width, size[1])
    col_weight = col_weight[:, None, :, None]
    return ((1.0 - col_weight) * per_sample_take(picked, col_first, 2)
            + col_weight * per_sample_take(picked, col_second, 2))  # (B, h, w, C)


class MacoCrops(Transform):
    """MACO's transforms (Fel et al., 2023): each step the model sees a random square crop of the
    canvas, resized to the model's input, plus noise; the crops may shrink over the run.

    The mean crop side goes linearly from ``start`` to ``end`` (fractions of the canvas side)
    over the first ``steps`` steps, then stays at ``end``; each sample's side is that ± ``jitter``
    (Gaussian), its centre Gaussian about the canvas's centre with spread ``spread`` and kept
    inside the canvas. Each crop is resampled to the canvas size ÷ ``canvas_scale`` (the model's
    input when it matches ``MacoImage``'s). Noise: Gaussian plus uniform, each ``noise`` × the
    sample's value span (no gradient through the span).

    ``end`` defaults to ``1 / canvas_scale``, the model's own scale. With the default
    ``canvas_scale=1`` (the canvas is the model's input) the crops stay at the whole image (side
    1 ± ``jitter``, clipped: a random zoom of up to ~10%), the ``'maco'`` style's. With
    ``canvas_scale=1.5`` (``styles.MACO_CANVAS``) they go from the whole canvas, which the model
    sees at 2/3 scale (composition), to 2/3 of it, which it sees at its own scale (details), as
    Xplique shrinks crops of a 512 px canvas shown at 224 px. Ending below ``1 / canvas_scale``
    shows the model details larger than they are in the result (``bench/QUALITY.md``).

    ``views``: random crops per image per step (``Transform.views``), each drawn independently;
    the engine averages their losses, so the gradient is the mean over them (less noisy, higher
    activations; ``views`` times the compute per step). The presets use ``STYLE_VIEWS``.

    ``transform`` returns the crops at their own size (not fitted back to the canvas): the
    engine resizes what the model sees to its input when the sizes differ.
    """

    def __init__(self, start=1.0, end=None, steps=64, jitter=0.05, spread=0.15, noise=0.02,
                 canvas_scale=1.0, views=STYLE_VIEWS):
        self.views = arguments.check_int("views", views, minimum=1, fix="use e.g. views=4")
        self.canvas_scale = arguments.check_number("canvas_scale", canvas_scale, minimum=1,
                                                   fix="use the MacoImage's, e.g. canvas_scale=1.5")
        end = 1.0 / self.canvas_scale if end is None else end
        if not 0 < end <= 1 or not 0 < start <= 1:
            raise ValueError(f"MacoCrops start={start!r}, end={end!r}: crop sides are fractions of the "
                             "canvas side, in (0, 1], e.g. start=1.0, end=0.5.")
        self.start, self.end, self.steps = float(start), float(end), max(int(steps), 1)
        self.jitter, self.spread, self.noise = float(jitter), float(spread), float(noise)

    def output_size(self, images):
        """The crops' ``(height, width)``: the canvas's ÷ ``canvas_scale``."""
        return [max(1, int(round(d / self.canvas_scale))) for d in _spatial_shape(images)]

    def mean_side(self, step):
        """The scheduled crop side at ``step`` (a tensor), a fraction of the canvas side."""
        progress = ops.minimum(ops.cast(step, "float32") / self.steps, 1.0)
        return self.start + (self.end - self.start) * progress

    def apply(self, images, random):
        if len(images.shape) != 4:
            raise ValueError("MacoCrops works on 2-D images (B, H, W, C).")
        side = ops.clip(self.mean_side(random.step) + self.jitter * _normal(random, 501, 1), 0.05, 1.0)  # (B, 1)
        centre = 0.5 + self.spread * _normal(random, 503, 2)  # (B, 2): y, x
        centre = ops.clip(centre, side / 2, 1.0 - side / 2)
        size = self.output_size(images)
        crops = crop_and_resize(images, centre[:, :1] - side / 2, centre[:, 1:] - side / 2, side, size)
        span = ops.stop_gradient(ops.max(crops, axis=(1, 2, 3), keepdims=True)
                                 - ops.min(crops, axis=(1, 2, 3), keepdims=True))
        n = size[0] * size[1] * int(images.shape[-1])
        shape = (-1, size[0], size[1], int(images.shape[-1]))
        gaussian = ops.reshape(_normal(random, 505, n), shape)
        uniform = ops.reshape(random.uniform(507, n) - 0.5, shape)
        return crops + self.noise * span * (gaussian + uniform)

    def transform(self, images, random):
        return self.apply(images, random)


def maco_crops(start=1.0, end=None, steps=64, *, jitter=0.05, spread=0.15, noise=0.02, canvas_scale=1.0,
               views=STYLE_VIEWS):
    """MACO's random crops plus noise (see ``MacoCrops``), from the whole canvas to
    ``1 / canvas_scale`` of it over 64 steps, ``views`` crops per image per step: with the
    defaults (canvas = the model's input), whole-image crops, the ``'maco'`` style's; with
    ``canvas_scale=1.5``, crops shrinking to model scale, ``styles.MACO_CANVAS``'s (give
    ``MacoImage`` the same ``canvas_scale``). ``views=1`` is 4 times cheaper per step, with a
    lower activation."""
    return MacoCrops(start, end, steps, jitter, spread, noise, canvas_scale, views)


MACO = maco_crops()  # whole-image crops on a model-size canvas: the 'maco' style's
MACO_CANVAS = maco_crops(canvas_scale=CANVAS_OPTION_SCALE)  # shrinking crops of a 1.5x canvas
