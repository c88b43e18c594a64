"""Random transforms on the graph, per sample: Lucid's "transformation robustness".

An image that maximizes a filter only when seen at one exact position, scale and angle is full of
high-frequency tricks the network never learned from photos. Optimizing through small random
translations, scalings and rotations at every step keeps only what the filter responds to robustly,
which is also what a person recognises.

Each transform is an ``InputModifier`` with ``transform(images, random)``, so it goes in
``input_modifiers=[...]`` and runs inside the compiled step: ``images`` is a channels-last batch
``(B, *spatial, C)`` and ``random`` a ``sample_random.SampleRandom``, so every sample gets its own
draw, the same whether it is optimized alone or in a batch, and the same again for the same seed.

The model always sees its own input size: a transform that grows or shrinks the canvas (``pad``,
``jitter`` in ``'crop'`` mode) is fitted back (a centre crop, or a pad with the image's mean
colour) at the end of ``transform``; inside ``compose`` the sizes are carried from one transform
to the next and fitted once at the end, as in Lucid, where ``pad(12)`` then ``jitter(8)`` lets
the image move without wrapping around.

    >>> visualize_filters(model, "block4b_add", style="fourier",  # LIGHT transforms
    ...                   input_modifiers=[compose(jitter(4), random_rotate(5))])  # or your own
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

from .input_modifiers import InputModifier, per_sample_take, roll_per_sample


class _Salted:
    """A ``SampleRandom`` whose salts are offset, so equal transforms in one chain draw apart."""

    def __init__(self, random, offset):
        self.random, self.offset = random, offset

    def uniform(self, salt, n=1):
        return self.random.uniform(salt + self.offset, n)

    def integers(self, salt, low, high, n=1):
        return self.random.integers(salt + self.offset, low, high, n)

    @property
    def step(self):
        return self.random.step


def _spatial_shape(images):
    return [int(d) for d in images.shape[1:-1]]


def _per_axis(value, rank, what):
    values = [int(v) for v in np.atleast_1d(value)]
    if len(values) == 1:
        values = values * rank
    if len(values) != rank or min(values) < 0:
        raise ValueError(f"{what} needs one non-negative value or one per image dimension "
                         f"({rank}); got {value!r}.")
    return values


def _mean_colour(images):
    return ops.mean(images, axis=tuple(range(1, len(images.shape) - 1)), keepdims=True)


def _reflect_indices(size, before, after):
    """Source positions of an axis of ``size`` padded by reflection (edge not repeated), as
    ``numpy.pad(mode='reflect')`` and TensorFlow's ``REFLECT``."""
    if max(before, after) >= size:
        raise ValueError(f"Pad value 'reflect' needs fewer pad pixels ({max(before, after)}) than the image "
                         f"dimension ({size}); use a smaller pad or value=None.")
    return np.pad(np.arange(size), (before, after), mode="reflect")


def _pad_with(images, widths, value):
    """Pad each spatial axis by ``widths[i] = (before, after)`` with a constant, each image's mean
    colour (``value=None``) or a reflection (``value='reflect'``)."""
    paddings = [[0, 0]] + [list(w) for w in widths] + [[0, 0]]
    if isinstance(value, str):
        if value != "reflect":
            raise ValueError(f"Pad value {value!r}: use a number, None (the image's mean colour) or 'reflect'.")
        # Gathers, not ops.pad: PyTorch's reflection pad takes only some ranks and layouts.
        for axis, (size, (before, after)) in enumerate(zip(_spatial_shape(images), widths), start=1):
            images = ops.take(images, _reflect_indices(size, before, after), axis=axis)
        return images
    fill = _mean_colour(images) if value is None else ops.cast(float(value), images.dtype)
    return ops.pad(images - fill, paddings) + fill


def fit(images, size, mode="crop"):
    """``images`` brought to spatial ``size``: centre crop or pad (mean colour), or a resize.

    ``mode='resize'`` (2-D only) scales the whole canvas, so padded borders stay in view.
    """
    size = [int(s) for s in size]
    current = _spatial_shape(images)
    if current == size:
        return images
    if mode == "resize":
        if len(size) != 2:
            raise ValueError("fit mode 'resize' works for 2-D images only; use 'crop'.")
        return ops.image.resize(images, size, interpolation="bilinear", data_format="channels_last")
    if mode != "crop":
        raise ValueError(f"Unknown fit mode {mode!r}: use 'crop' or 'resize'.")
    grow = [max(0, s - c) for s, c in zip(size, current)]
    if any(grow):
        images = _pad_with(images, [(g // 2, g - g // 2) for g in grow], None)
    begin = [(c - s) // 2 for c, s in zip(_spatial_shape(images), size)]
    return images[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(begin, size))]


class Transform(InputModifier):
    """Base class: ``apply`` may change the canvas size; ``transform`` keeps the input's size.

    ``views``: how many independently drawn views of each image the model sees per step (the
    engine averages their losses, so the gradient is the mean over them); a recipe's largest
    ``views`` applies to the whole transform chain. 1 here; ``maco.MacoCrops`` takes it.
    """

    views = 1

    def apply(self, images, random):
        raise NotImplementedError

    def transform(self, images, random):
        return fit(self.apply(images, random), _spatial_shape(images))

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Pad(Transform):
    """Grow the canvas by ``n`` pixels on every side (see ``pad``)."""

    def __init__(self, n, value=None):
        self.n, self.value = n, value

    def apply(self, images, random):
        widths = _per_axis(self.n, len(images.shape) - 2, "pad")
        return _pad_with(images, [(w, w) for w in widths], self.value)


class RandomJitter(Transform):
    """A random translation by up to ``n`` pixels per sample (see ``jitter``)."""

    def __init__(self, n, mode="crop"):
        if mode not in ("crop", "wrap"):
            raise ValueError(f"Unknown jitter mode {mode!r}: use 'crop' or 'wrap'.")
        self.n, self.mode = n, mode

    def apply(self, images, random):
        dims = _spatial_shape(images)
        limits = _per_axis(self.n, len(dims), "jitter")
        if self.mode == "wrap":
            shifts = ops.concatenate([random.integers(201 + i, -lim, lim) for i, lim in enumerate(limits)], axis=1)
            return roll_per_sample(images, shifts)
        for axis, (size, lim) in enumerate(zip(dims, limits), start=1):
            if lim >= size:
                raise ValueError(f"jitter {lim} leaves nothing of an image dimension of {size} pixels.")
            start = random.integers(201 + axis - 1, 0, lim)  # (B, 1)
            images = per_sample_take(images, start + ops.arange(size - lim, dtype="int32")[None, :], axis)
        return images


def _resample(images, inverse):
    """Bilinear resampling of 2-D images through per-sample ``inverse`` maps ``(B, 2, 2)`` about
    the centre: output pixel ``p`` reads input ``inverse @ (p - c) + c``; outside the canvas it
    reads the nearest edge pixel (gathers, so the gradient is exact)."""
    height, width = _spatial_shape(images)
    channels = images.shape[-1]
    ys, xs = np.meshgrid(np.arange(height, dtype="float32"), np.arange(width, dtype="float32"), indexing="ij")
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0], "float32")
    grid = ops.convert_to_tensor(np.stack([ys, xs], axis=-1).reshape(-1, 2) - centre)  # (HW, 2)
    centre = ops.convert_to_tensor(centre)
    # inverse @ grid written out as products and sums of elements, not a matrix product: a GEMM
    # kernel's summation order (and FMA use) depends on the batch size on some CPUs, and a
    # sample's image must be the same whether it is transformed alone or in a batch.
    rows = inverse[:, None]  # (B, 1, 2, 2)
    source = rows[..., 0] * grid[None, :, :1] + rows[..., 1] * grid[None, :, 1:] + centre  # (B, HW, 2)
    source = ops.minimum(ops.maximum(source, 0.0), ops.convert_to_tensor(np.array([height - 1, width - 1], "float32")))
    floor = ops.floor(source)
    frac = source - floor
    y0 = ops.cast(floor[..., 0], "int32")
    x0 = ops.cast(floor[..., 1], "int32")
    y1 = ops.minimum(y0 + 1, height - 1)
    x1 = ops.minimum(x0 + 1, width - 1)
    flat = ops.reshape(images, (-1, height * width, channels))

    def at(y, x):
        return per_sample_take(flat, y * width + x, axis=1)

    fy, fx = frac[..., :1], frac[..., 1:]
    out = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1))
           + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1)))
    return ops.reshape(out, (-1, height, width, channels))


def _choose(random, salt, values):
    """One of ``values`` per sample, ``(B,)`` float32."""
    index = random.integers(salt, 0, len(values) - 1)[:, 0]
    return ops.take(ops.convert_to_tensor(np.array(values, "float32")), index)


class RandomScale(Transform):
    """Zoom each sample about its centre, canvas size kept (see ``random_scale``)."""

    def __init__(self, scales=None, low=None, high=None):
        if (scales is None) == (low is None or high is None):
            raise ValueError("random_scale takes a sequence of scales, or low= and high=.")
        self.scales = None if scales is None else tuple(float(s) for s in np.atleast_1d(scales))
        self.low, self.high = (None, None) if scales is not None else (float(low), float(high))
        if min(self.scales or (self.low, self.high)) <= 0:
            raise ValueError(f"Scales must be positive numbers; got {scales or (low, high)!r}.")

    def apply(self, images, random):
        if len(images.shape) != 4:
            raise ValueError("random_scale works on 2-D images (B, H, W, C).")
        if self.scales is not None:
            inverse = 1.0 / _choose(random, 301, self.scales)
        else:  # uniform in log-scale, so zooming in and out are equally likely
            ratio = math.log(self.high / self.low)
            inverse = 1.0 / (self.low * ops.exp(random.uniform(301)[:, 0] * ratio))
        eye = ops.eye(2, dtype="float32")[None]
        return _resample(images, eye * inverse[:, None, None])


class RandomRotate(Transform):
    """Rotate each sample about its centre, canvas size kept (see ``random_rotate``)."""

    def __init__(self, degrees):
        self.degrees = float(degrees) if np.ndim(degrees) == 0 else tuple(float(d) for d in degrees)

    def apply(self, images, random):
        if len(images.shape) != 4:
            raise ValueError("random_rotate works on 2-D images (B, H, W, C).")
        if isinstance(self.degrees, tuple):
            angle = _choose(random, 401, self.degrees)
        else:
            angle = (2.0 * random.uniform(401)[:, 0] - 1.0) * self.degrees
        angle = angle * (math.pi / 180.0)
        cos, sin = ops.cos(angle), ops.sin(angle)
        # The inverse map in (y, x) coordinates with y pointing down: a positive angle turns
        # the image counterclockwise on screen, as tf.image and Lucid.
        inverse = ops.stack([ops.stack([cos, sin], -1), ops.stack([-sin, cos], -1)], axis=1)
        return _resample(images, inverse)


class Compose(Transform):
    """Transforms in order, canvas sizes carried through, fitted to the input size once at the end."""

    def __init__(self, transforms, fit="crop"):
        self.transforms = tuple(transforms)
        self.fit = fit
        for t in self.transforms:
            if not hasattr(t, "apply") and getattr(t, "transform", None) is None:
                raise TypeError(f"{t!r} is not a transform (needs apply or transform).")

    def apply(self, images, random):
        for position, t in enumerate(self.transforms):
            salted = _Salted(random, 1000 * (position + 1))
            images = t.apply(images, salted) if hasattr(t, "apply") else t.transform(images, salted)
        return images

    def transform(self, images, random):
        return fit(self.apply(images, random), _spatial_shape(images), self.fit)


def pad(n, value=None):
    """Grow the canvas by ``n`` pixels per side (an int, or one per dimension).

    ``value``: a constant in the image's range, ``None`` for each image's mean colour (a neutral
    border whatever the input range; Lucid pads with mid-grey), or ``'reflect'``. Only useful
    before a translation or rotation in ``compose``: alone it is undone by the fit.
    """
    return Pad(n, value)


def jitter(n, mode="crop"):
    """Translate each sample by a random whole number of pixels, up to ``n`` per dimension.

    ``mode='crop'`` (Lucid's): a random crop ``n`` pixels smaller; ``'wrap'``: a wrap-around
    shift (keras-vis's ``Jitter``), same size.
    """
    return RandomJitter(n, mode)


def random_scale(scales=None, *, low=None, high=None):
    """Zoom each sample by a factor drawn from ``scales`` (a sequence, e.g. Lucid's 0.9, 0.92, ...
    1.1), or log-uniform between ``low`` and ``high``."""
    return RandomScale(scales, low, high)


def random_rotate(degrees):
    """Rotate each sample: ``degrees`` a number (uniform in ±degrees) or a sequence of angles."""
    return RandomRotate(degrees)


def compose(*transforms, fit="crop"):
    """One transform applying ``transforms`` in order; ``fit`` ('crop' or 'resize') brings the
    result back to the input size."""
    return Compose(transforms, fit)


class BySize(Transform):
    """``large`` for images whose shorter side has at least ``min_size`` pixels, else ``small``."""

    def __init__(self, small, large, min_size=96):
        self.small, self.large, self.min_size = small, large, int(min_size)

    def _pick(self, images):
        return self.large if min(_spatial_shape(images)) >= self.min_size else self.small

    def apply(self, images, random):
        return self._pick(images).apply(images, random)

    def transform(self, images, random):
        return self._pick(images).transform(images, random)



# Lucid's standard transforms (for ~128 px and larger images).
LUCID = compose(pad(12), jitter(8), random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
                random_rotate(list(range(-10, 11))), jitter(4))

# A lighter set: the fourier style's (it converges faster than with Lucid's at 128 px, with images
# as clean, bench/QUALITY.md), and right for small images, where Lucid's shifts are a large share.
LIGHT = compose(pad(4), jitter(4), random_scale([0.95, 0.975, 1.0, 1.025, 1.05]), random_rotate(5), jitter(2))

# LUCID from 96 px up, LIGHT below.
STANDARD = BySize(LIGHT, LUCID)


def __getattr__(name):  # MACO's crops live in ``maco``; these names stay importable here
    if name in ("MacoCrops", "maco_crops", "MACO"):
        from . import maco
        return getattr(maco, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
