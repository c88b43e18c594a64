"""Image parameterizations: what the optimizer actually changes, and how it becomes an image.

A parameterization has two parts, the seam between "what is optimized" and "what the model sees":

- ``init_params(keys, image_shape, input_range, seed_images=None) -> np.ndarray``: the starting
  parameters for a batch, one sample per key (``sample_random.sample_keys``), deterministic in
  the keys; ``seed_images`` (``(B, *image_shape)`` in ``input_range``, channels-last) when the
  user gave a starting image.
- ``to_image(params) -> tf.Tensor``: on the graph, differentiable: ``(B, *image_shape)``
  channels-last images in ``input_range``.

- ``display(image, input_range) -> np.ndarray``: one optimized image (channels-last, in
  ``input_range``) made displayable.

``PixelImage`` is keras-vis's: the parameters are the pixels.
"""
from __future__ import annotations

import numpy as np

from . import utils


class PixelImage:
    """Optimize pixels directly (keras-vis's classic mode).

    Starts from Gaussian noise around the middle of ``input_range`` with a standard deviation of
    5% of the range, as keras-vis.
    """

    name = "pixel"

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


_BY_NAME = {"pixel": PixelImage}


def register(name, factory):
    """Make ``param=name`` build ``factory()`` (used by the parameterizations defined later)."""
    _BY_NAME[name] = factory


def get(identifier):
    """A parameterization from a name (``'pixel'``, ...), an instance, or ``None`` (pixel)."""
    if identifier is None:
        return PixelImage()
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(
                f"Unknown image parameterization {identifier!r}: use one of {', '.join(_BY_NAME)}."
            ) from None
    if hasattr(identifier, "init_params") and hasattr(identifier, "to_image"):
        return identifier
    raise TypeError(f"{identifier!r} is not an image parameterization (needs init_params and to_image).")
