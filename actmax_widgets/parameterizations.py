"""Image parameterizations: what the optimizer actually changes, and how it becomes an image.

A parameterization has two parts, the seam between "what is optimized" and "what the model sees":

- ``init_params(keys, image_shape, input_range, seed_images=None) -> np.ndarray``: the starting
  parameters for a batch, one sample per key (``sample_random.sample_keys``), deterministic in
  the keys; ``seed_images`` (``(B, *image_shape)`` in ``input_range``, channels-last) when the
  user gave a starting image.
- ``to_image(params)``: on the graph, in ``keras.ops``, differentiable: ``(B, *image_shape)``
  channels-last images in ``input_range``, a tensor of the active backend.
- ``variables`` (optional, default empty): the ``keras.Variable`` s ``to_image`` reads, which the
  engine passes into its compiled step.

- ``display(image, input_range) -> np.ndarray``: one optimized image (channels-last, in
  ``input_range``) made displayable.
- ``accumulates_attribution`` (optional, default False): when True the engine also sums
  |d objective / d image| over the steps (``RunRecord.attribution``, ``ActMaxResult.alpha``).

``PixelImage`` is keras-vis's: the parameters are the pixels. ``FourierImage`` (``'fourier'``)
is Lucid's spectral parameterization with colour decorrelation: smoother, more natural images in
fewer steps. ``MacoImage`` (``'maco'``) optimizes only the phase, with a natural magnitude spectrum
kept fixed (for deep networks).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import arguments, render, utils
from .backend.fft import irfft2d


class PixelImage:
    """Optimize pixels directly (keras-vis's classic mode).

    Starts from Gaussian noise around the middle of ``input_range`` with a standard deviation of
    5% of the range, as keras-vis.
    """

    name = "pixel"
    variables = []

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        if seed_images is not None:
            return np.asarray(seed_images, dtype="float32")
        low, high = (float(v) for v in input_range)
        images = [
            np.random.default_rng(int(key) & 0xFFFFFFFFFFFF).standard_normal(image_shape)
            * 0.05 * (high - low) + (low + high) / 2.0
            for key in keys
        ]
        return np.stack(images).astype("float32")

    def to_image(self, params):
        return params

    def display(self, image, input_range):
        # Raw pixels drift far outside a natural range: keras-vis's contrast normalization.
        return utils.deprocess_input(image, input_range)


# Lucid's colour correlation of ImageNet photos (the square root of the RGB covariance):
# independent parameters per row become correlated colours, so colour and luminance are
# optimized at comparable rates.
COLOR_CORRELATION = np.array([[0.26, 0.09, 0.02],
                              [0.27, 0.00, -0.05],
                              [0.27, -0.09, 0.03]], dtype="float32")
COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION / np.max(np.linalg.norm(COLOR_CORRELATION, axis=0))


def spectrum_scale(height, width, decay=1.0):
    """``(height, width // 2 + 1)`` weights of the real-FFT coefficients: 1 / max(f, 1/max(h, w))^decay.

    Natural images have a ~1/f amplitude spectrum; weighting the coefficients this way makes
    equal-size parameter steps change all frequencies equally visibly, instead of letting the
    many high frequencies dominate (which makes noise). The ``sqrt(h * w)`` factor undoes the
    inverse FFT's normalisation so the image's scale does not depend on its size.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay
    return (scale * np.sqrt(height * width)).astype("float32")


class _RunShape:
    """What ``init_params`` tells ``to_image`` about the run: the image width (a spectrum does not
    tell an odd width from the even one below it) and the input range, a variable so a traced
    step follows a later run's range. Its fixed ``repr`` keeps it out of settings cache keys."""

    def __init__(self):
        self.width = None
        self.input_range = None

    def set(self, width, input_range):
        self.width = int(width)
        low_high = np.array([float(v) for v in input_range], "float32")
        if self.input_range is None:
            self.input_range = keras.Variable(low_high, dtype="float32", trainable=False, name="input_range")
        else:
            self.input_range.assign(low_high)

    @property
    def variables(self):
        """The input range's variable once ``set``: what a compiled step reads of this run."""
        return [] if self.input_range is None else [self.input_range]

    def __repr__(self):
        return "_RunShape()"



def _colours_in_range(images, decorrelate, input_range):
    """Channels-last linear images -> the model's input: Lucid's colour decorrelation (RGB only),
    then a sigmoid into ``input_range`` (shared by the Fourier and MACO parameterizations)."""
    if decorrelate and images.shape[-1] == 3:
        images = ops.tensordot(images, ops.convert_to_tensor(COLOR_CORRELATION_NORMALIZED.T), axes=1)
    low, high = input_range[0], input_range[1]
    return low + (high - low) * ops.sigmoid(images)


class FourierImage:
    """Optimize the image's 2-D Fourier coefficients, decorrelated colours, squashed by a sigmoid.

    Lucid's and Lucent's default ("spectral") parameterization. The parameters of each sample are
    the real and imaginary parts of its real-FFT spectrum, one spectrum per (decorrelated) colour
    channel, scaled by ``spectrum_scale`` so low frequencies move first; the inverse FFT gives the
    image, ``COLOR_CORRELATION_NORMALIZED`` mixes 3-channel images into natural colour
    statistics, and a sigmoid maps every value into ``input_range`` (no clipping, no contrast
    stretch needed at display time).

    Parameters
    ----------
    decay : float
        Exponent of the 1/f weighting (Lucid 1.0, Xplique 0.85, Horama 1.5; the ``'fourier'``
        style uses 1.75, see ``bench/QUALITY.md``): higher gives smoother images.
    init_std : float
        Standard deviation of the starting coefficients (Lucid's 0.01: an almost uniform grey).
    decorrelate : bool
        Mix 3-channel images with the colour correlation matrix (other channel counts: never).

    Works for any channel count (1: grey, 3: colour) and non-square 2-D images.
    """

    name = "fourier"

    def __init__(self, decay=1.0, init_std=0.01, decorrelate=True):
        self.decay = arguments.check_number("decay", decay, minimum=0, fix="use an exponent >= 0, e.g. decay=1.0")
        self.init_std = arguments.check_number("init_std", init_std, above=0, fix="use a small spread, e.g. 0.01")
        self.decorrelate = arguments.check_bool("decorrelate", decorrelate)
        self._run = _RunShape()

    @property
    def variables(self):
        """The state ``to_image`` reads in the compiled step: the input range, once a run set it."""
        return self._run.variables

    @staticmethod
    def _spatial(image_shape):
        if len(image_shape) != 3:
            raise ValueError(f"FourierImage needs 2-D images (H, W, C); got image shape {tuple(image_shape)}.")
        return int(image_shape[0]), int(image_shape[1]), int(image_shape[2])

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        """``(B, 2, C, H, W // 2 + 1)``: real and imaginary parts, N(0, init_std) keyed per sample."""
        if seed_images is not None:
            raise ValueError("FourierImage starts from its own spectrum: seed images need param='pixel'.")
        height, width, channels = self._spatial(image_shape)
        self._run.set(width, input_range)
        shape = (2, channels, height, width // 2 + 1)
        params = [np.random.default_rng(int(key) & 0xFFFFFFFFFFFF).standard_normal(shape) * self.init_std
                  for key in keys]
        return np.stack(params).astype("float32")

    def to_image(self, params):
        if self._run.width is None:
            raise RuntimeError("FourierImage.to_image needs init_params to be called first (it fixes the size).")
        params = ops.convert_to_tensor(params, "float32")
        height, width = int(params.shape[3]), self._run.width
        scale = ops.convert_to_tensor(spectrum_scale(height, width, self.decay))
        images = irfft2d(params[:, 0] * scale, params[:, 1] * scale, height, width)  # (B, C, H, W)
        images = ops.transpose(images, (0, 2, 3, 1)) / 4.0  # Lucid's /4 keeps the sigmoid unsaturated
        return _colours_in_range(images, self.decorrelate, self._run.input_range)

    def display(self, image, input_range):
        """The image as uint8, mapped linearly from ``input_range`` (no contrast stretch)."""
        return render.from_range(image, input_range)


_BY_NAME = {"pixel": PixelImage}


def register(name, factory):
    """Make ``param=name`` build ``factory()`` (used by the parameterizations defined later)."""
    _BY_NAME[name] = factory


register("fourier", FourierImage)


def get(identifier):
    """A parameterization from a name (``'pixel'``, ...), an instance, or ``None`` (pixel)."""
    from . import maco  # noqa: F401  (registers 'maco', named in the errors below; it imports this module)
    if identifier is None:
        return PixelImage()
    if isinstance(identifier, str):
        return _BY_NAME[arguments.check_choice("param", identifier, tuple(_BY_NAME))]()
    if hasattr(identifier, "init_params") and hasattr(identifier, "to_image"):
        # A class (param=FourierImage) is made here: its methods are unbound, it cannot run itself.
        return identifier() if isinstance(identifier, type) else identifier
    raise TypeError(f"param={arguments.show(identifier)} is not an image parameterization (needs init_params "
                    f"and to_image): pass one of {', '.join(map(repr, _BY_NAME))} or such an object.")


def __getattr__(name):  # MACO lives in its own module (``maco``); these names stay importable here
    if name in ("MacoImage", "maco_magnitude"):
        from . import maco
        return getattr(maco, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
