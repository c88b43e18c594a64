"""Input modifiers: changes to the image at each step that make the result robust.

keras-vis's interface is kept: an ``InputModifier`` has ``pre(inp)`` (before the gradient step)
and ``post(inp)`` (after, applied in reverse order), both on numpy arrays. A modifier that also
defines ``transform(images, random)`` runs on the graph instead, inside the compiled step, with a
different random draw per sample; all of this package's modifiers do. Custom modifiers with only
``pre``/``post`` still work, one host round trip per step.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import utils


def checked(modifiers):
    """``modifiers`` as a list, each an ``InputModifier`` or an object with ``pre`` (keras-vis's
    duck type) or ``transform`` (a graph transform); TypeError naming the first that is not."""
    modifiers = list(modifiers or [])
    for modifier in modifiers:
        if not (isinstance(modifier, InputModifier) or hasattr(modifier, "pre") or hasattr(modifier, "transform")):
            raise TypeError(f"{modifier!r} is not an InputModifier.")
    return modifiers


class InputModifier:
    """Base class. Override ``pre`` and/or ``post`` (numpy), or ``transform`` (graph)."""

    def pre(self, inp):
        """Modify the image before the gradient step."""
        return inp

    def post(self, inp):
        """Undo or adjust after the gradient step."""
        return inp

    # A graph modifier overrides this: (B, *spatial, C) channels-last images -> same shape.
    transform = None


def roll_per_sample(images, shifts):
    """Wrap-around shift of each sample by its own offsets.

    ``images``: ``(B, d1, ..., dk, C)``; ``shifts``: int ``(B, k)``, one offset per spatial axis.
    """
    for axis in range(1, len(images.shape) - 1):
        size = tf.shape(images)[axis]
        positions = tf.range(size)[None, :] - shifts[:, axis - 1:axis]
        images = tf.gather(images, tf.math.floormod(positions, size), axis=axis, batch_dims=1)
    return images


class Jitter(InputModifier):
    """Shift the image by a random offset at every step (with wrap-around).

    A feature that only works at one exact pixel position is not learned by the network, so
    optimizing through random shifts removes high-frequency artefacts.

    Parameters
    ----------
    jitter : float, int or a sequence of them (one per image dimension)
        A value < 1 is a fraction of that image dimension, ≥ 1 is pixels; the offset is uniform
        in ``[-jitter, jitter]``.

    Unlike keras-vis (which left the image shifted, so it wandered around), the shift here applies
    to what the model sees at each step and the image itself stays in place.
    """

    def __init__(self, jitter=0.05):
        self.jitter = np.array(utils.listify(jitter), dtype="float64")
        if np.any(self.jitter < 0.0):
            raise ValueError(f"Jitter value should be positive; got {jitter}.")

    def offsets_for(self, image_dims):
        """Maximum offsets in pixels for images of spatial size ``image_dims``."""
        jitter = self.jitter
        if len(jitter) == 1:
            jitter = np.repeat(jitter, len(image_dims))
        if len(jitter) != len(image_dims):
            raise ValueError(
                f"Jitter has {len(jitter)} values but the image has {len(image_dims)} dimensions "
                f"{tuple(image_dims)}: give one value, or one per dimension."
            )
        return [int(v * d) if v < 1.0 else int(v) for v, d in zip(jitter, image_dims)]

    def transform(self, images, random):
        dims = [int(d) for d in images.shape[1:-1]]
        limits = self.offsets_for(dims)
        shifts = tf.concat(
            [random.integers(salt=101 + i, low=-lim, high=lim) for i, lim in enumerate(limits)], axis=1
        )
        return roll_per_sample(images, shifts)

    def pre(self, inp):
        # The host path, for users calling pre() themselves: a random shift of a (B, ..., C) array.
        offsets = self.offsets_for(inp.shape[1:-1])
        rng = np.random.default_rng()
        for axis, limit in enumerate(offsets, start=1):
            inp = np.roll(inp, rng.integers(-limit, limit + 1), axis=axis)
        return inp
