"""Input modifiers: changes to the image at each step that make the result robust.

keras-vis's interface is kept: an ``InputModifier`` has ``pre(inp)`` (before the gradient step)
and ``post(inp)`` (after, applied in reverse order), both on numpy arrays. A modifier that also
defines ``transform(images, random)`` runs on the graph instead, inside the compiled step, with a
different random draw per sample; all of this package's modifiers do. Custom modifiers with only
``pre``/``post`` still work, one host round trip per step.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from . import arguments, utils


def _is_modifier(value):
    return isinstance(value, InputModifier) or hasattr(value, "pre") or hasattr(value, "transform")


def checked(modifiers):
    """``modifiers`` as a list, each an ``InputModifier`` or an object with ``pre`` (keras-vis's
    duck type) or ``transform`` (a graph transform); TypeError naming the first that is not.
    One modifier on its own counts as a list of one (``input_modifiers=Jitter()``)."""
    if modifiers is None:
        return []
    if _is_modifier(modifiers) and not isinstance(modifiers, type):
        return [modifiers]
    if isinstance(modifiers, (str, bytes)) or not hasattr(modifiers, "__iter__"):
        raise TypeError(f"input_modifiers={modifiers!r} is not a list of modifiers: pass e.g. "
                        "input_modifiers=[Jitter(0.05)].")
    modifiers = list(modifiers)
    for k, modifier in enumerate(modifiers):
        if isinstance(modifier, type):  # Jitter, not Jitter(): its pre() would get no self
            raise TypeError(f"input_modifiers[{k}] is the class {modifier.__name__}, not a modifier: pass an "
                            f"instance, e.g. {modifier.__name__}().")
        if not _is_modifier(modifier):
            raise TypeError(f"input_modifiers[{k}]={modifier!r} is not an InputModifier: pass objects such as "
                            "Jitter(0.05) (or with pre()/transform() methods).")
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


def per_sample_take(images, indices, axis):
    """``images`` indexed along ``axis`` by each sample's own positions: ``indices`` int32
    ``(B, n)`` -> ``images`` with ``n`` entries on ``axis`` (``tf.gather(..., batch_dims=1)``).

    One take of whole rows (everything after ``axis``) from the batch flattened up to ``axis``:
    ``take_along_axis`` would broadcast the indices to every element (TensorFlow's also
    transposes), twice as slow in a Lucid step."""
    dims = [int(d) for d in images.shape[1:]]
    before, size, n = int(np.prod(dims[:axis - 1])), dims[axis - 1], int(indices.shape[1])
    rows = ops.arange(ops.shape(images)[0] * before, dtype="int32")  # (sample, position before axis)
    flat_indices = ops.reshape(rows * size, (-1, before, 1)) + ops.reshape(indices, (-1, 1, n))
    rows_after = ops.reshape(images, [-1] + dims[axis:])
    taken = ops.take(rows_after, ops.reshape(flat_indices, (-1,)), axis=0)
    return ops.reshape(taken, [-1] + dims[:axis - 1] + [n] + dims[axis:])


def roll_per_sample(images, shifts):
    """Wrap-around shift of each sample by its own offsets.

    ``images``: ``(B, d1, ..., dk, C)``; ``shifts``: int ``(B, k)``, one offset per spatial axis.
    """
    for axis in range(1, len(images.shape) - 1):
        size = int(images.shape[axis])
        positions = ops.arange(size, dtype="int32")[None, :] - shifts[:, axis - 1:axis]
        images = per_sample_take(images, ops.mod(positions, size), axis)
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
        values = utils.listify(jitter)
        if not values:
            raise ValueError("Jitter(jitter=[]) has no value: pass one number, e.g. Jitter(0.05), or one per "
                             "image dimension.")
        self.jitter = np.array([arguments.check_number("jitter", v, minimum=0, fix=(
            "Jitter value should be positive: a fraction of the size below 1, or pixels, e.g. Jitter(0.05)"))
            for v in values], dtype="float64")

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
        shifts = ops.concatenate(
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
