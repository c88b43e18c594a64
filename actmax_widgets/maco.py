"""MACO (Fel et al., NeurIPS 2023): the phase-only image parameterization with a fixed natural
magnitude spectrum, and its random crops plus noise — the ``'maco'`` style's two parts.

Kept apart from ``parameterizations`` and ``transforms`` because MACO's parts change together
(the canvas the image lives on and the crops the model sees of it).
"""
from __future__ import annotations

import functools
import importlib.resources
import math

import numpy as np
import tensorflow as tf

from . import arguments, parameterizations
from .parameterizations import FourierImage, _RunShape, _colours_in_range
from .transforms import Transform, _spatial_shape


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
    """MACO (Fel et al., NeurIPS 2023): optimize only the Fourier phase; the magnitude spectrum is
    fixed to that of natural photos (``maco_magnitude``).

    Whatever the optimizer does, the image keeps natural 1/f statistics, so deep layers cannot
    fill it with high-frequency noise (what makes Fourier images of deep nets unreadable). The
    parameters of each sample are one phase per channel and frequency, ``(C, H, W)``; they are
    made antisymmetric (``phase(-k) = -phase(k)``) before use, which makes the spectrum that of a
    real image, so the image's magnitude spectrum equals ``maco_magnitude`` exactly (the test
    checks it). As ``FourierImage``, 3-channel images are mixed with
    ``COLOR_CORRELATION_NORMALIZED`` (the spectrum was measured on photos un-mixed by its
    inverse) and a sigmoid maps them into ``input_range``.

    ``accumulates_attribution``: the engine sums |d objective / d image| over the steps, the
    alpha mask of ``ActMaxResult.alpha`` (where the feature is).

    Parameters
    ----------
    contrast : float
        The standard deviation of the image before colour mixing and sigmoid. Xplique's 1 gives
        washed-out images under this package's linear display (Xplique contrast-stretches when it
        plots); 2 gives photo-like contrast and higher activations (``bench/QUALITY.md``).
    decorrelate : bool
        Mix 3-channel images with the colour correlation matrix.
    """

    name = "maco"
    accumulates_attribution = True

    def __init__(self, contrast=2.0, decorrelate=True):
        self.contrast = arguments.check_number("contrast", contrast, above=0, fix="use e.g. contrast=2.0")
        self.decorrelate = arguments.check_bool("decorrelate", decorrelate)
        self._run = _RunShape()

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        """``(B, C, H, W)`` phases, uniform in [-pi, pi), keyed per sample."""
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
        params = tf.convert_to_tensor(params, tf.float32)
        channels, height, width = (int(d) for d in params.shape[1:])
        mirrored = tf.roll(tf.reverse(params, axis=[2, 3]), shift=[1, 1], axis=[2, 3])  # phase(-k)
        phase = ((params - mirrored) / 2.0)[..., :width // 2 + 1]
        magnitude = maco_magnitude(height, width, channels)[..., :width // 2 + 1]
        spectrum = tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))
        images = tf.signal.irfft2d(spectrum, fft_length=[height, width])  # (B, C, H, W)
        return tf.transpose(images, [0, 2, 3, 1])

    def to_image(self, params):
        if self._run.input_range is None:
            raise RuntimeError("MacoImage.to_image needs init_params to be called first (it fixes the range).")
        return _colours_in_range(self.linear_image(params) * self.contrast, self.decorrelate, self._run.input_range)

    display = FourierImage.display  # the same linear mapping from the input range


parameterizations.register("maco", MacoImage)


def _normal(random, salt, n):
    """``(B, n)`` standard normal draws (Box-Muller on two keyed uniform draws)."""
    # A float32 draw can round up to exactly 1.0 (x / 2**32 for x near 2**32): keep log finite.
    radius = tf.sqrt(-2.0 * tf.math.log(tf.maximum(1.0 - random.uniform(salt, n), 2.0 ** -32)))
    return radius * tf.cos(2.0 * math.pi * random.uniform(salt + 1, n))


class MacoCrops(Transform):
    """MACO's transforms (Fel et al., 2023): each step the model sees a random square crop of the
    image, resized to the full canvas, plus noise; the crops shrink over the run.

    The mean crop side goes linearly from ``start`` to ``end`` (fractions of the image side) over
    the first ``steps`` steps, then stays at ``end``; each sample's side is that ± ``jitter``
    (Gaussian), its centre Gaussian about the image's centre with spread ``spread`` and kept inside
    the image. Noise: Gaussian plus uniform, each ``noise`` × the sample's value span (no gradient
    through the span).

    The defaults keep the crops at the whole image (side 1 ± ``jitter``, clipped: a random zoom of
    up to ~10%). Xplique shrinks from 50% to 5% of a 512 px canvas it shows the model at 224 px,
    so its crops show details at about the model's scale; here the canvas *is* the model's input,
    and a crop of side s shows it 1/s times larger than the whole image the user (and the bench)
    feeds the model. Shrinking to 0.5 cost 45% of the activation on EfficientNet-Lite0's deepest
    layer (ratio 4.47 against 8.35 with whole-image crops; end 0.8: 6.43, 0.9: 6.16; fourier 8.10,
    ``bench/QUALITY.md``). ``start``/``end`` < 1 still give Xplique-like shrinking crops.
    """

    def __init__(self, start=1.0, end=1.0, steps=128, jitter=0.05, spread=0.15, noise=0.02):
        if not 0 < end <= 1 or not 0 < start <= 1:
            raise ValueError(f"MacoCrops start={start!r}, end={end!r}: crop sides are fractions of the "
                             "image side, in (0, 1], e.g. start=1.0, end=0.5.")
        self.start, self.end, self.steps = float(start), float(end), max(int(steps), 1)
        self.jitter, self.spread, self.noise = float(jitter), float(spread), float(noise)

    def apply(self, images, random):
        if images.shape.rank != 4:
            raise ValueError("MacoCrops works on 2-D images (B, H, W, C).")
        height, width = _spatial_shape(images)
        progress = tf.minimum(tf.cast(random.step, tf.float32) / self.steps, 1.0)
        mean_side = self.start + (self.end - self.start) * progress
        side = tf.clip_by_value(mean_side + self.jitter * _normal(random, 501, 1), 0.05, 1.0)  # (B, 1)
        centre = 0.5 + self.spread * _normal(random, 503, 2)  # (B, 2): y, x
        centre = tf.clip_by_value(centre, side / 2, 1.0 - side / 2)
        boxes = tf.concat([centre - side / 2, centre + side / 2], axis=1)  # y0, x0, y1, x1
        batch = tf.shape(images)[0]
        crops = tf.image.crop_and_resize(images, boxes, tf.range(batch), [height, width])
        span = tf.stop_gradient(tf.reduce_max(crops, axis=[1, 2, 3], keepdims=True)
                                - tf.reduce_min(crops, axis=[1, 2, 3], keepdims=True))
        n = height * width * int(images.shape[-1])
        gaussian = tf.reshape(_normal(random, 505, n), tf.shape(crops))
        uniform = tf.reshape(random.uniform(507, n) - 0.5, tf.shape(crops))
        return crops + self.noise * span * (gaussian + uniform)


def maco_crops(start=1.0, end=1.0, steps=128, *, jitter=0.05, spread=0.15, noise=0.02):
    """MACO's random crops (shrinking when ``end < start``) plus noise (see ``MacoCrops``); with
    the defaults, whole-image crops: the ``'maco'`` style's."""
    return MacoCrops(start, end, steps, jitter, spread, noise)


MACO = maco_crops()
