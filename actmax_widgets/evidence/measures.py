"""Measures of an image against a layer and against natural photos: how strongly each channel
fires on it, where a target ranks among the layer's channels, and how much of its energy sits in
fine detail. ``sanity`` turns them into signals; ``accentuation`` reports its activations with them;
``bench/quality.py`` measures the styles with them.
"""
from __future__ import annotations

import threading
import weakref

import keras
import numpy as np

from .. import catalogue, model_cut, model_facts

HIGH_FREQUENCY = 0.25  # cycles per pixel: half the Nyquist frequency


def channel_means(probe, images, batch=32):
    """``(N, C)`` mean activation of each channel of ``probe``'s output (a channels-last feature
    map, or ``(N, C)`` units of a dense layer) on ``images`` (in ``probe``'s input layout)."""
    return _per_channel(probe, images, batch, np.mean)


def channel_maxima(probe, images, batch=32):
    """``(N, C)`` each channel's strongest position (as ``dataset_examples`` ranks natural images)."""
    return _per_channel(probe, images, batch, np.max)


def _per_channel(probe, images, batch, reduce):
    out = []
    for start in range(0, len(images), batch):
        features = probe(np.asarray(images[start:start + batch], "float32"), training=False)
        features = keras.ops.convert_to_numpy(features).astype("float32")
        out.append(reduce(features, axis=tuple(range(1, features.ndim - 1))) if features.ndim > 2 else features)
    return np.concatenate(out)


def high_frequency_share(images):
    """Per image: the share of its luminance energy above ``HIGH_FREQUENCY`` cycles per pixel
    (all energy but the mean's). Photos keep most of theirs in coarse structure (a 1/f
    spectrum); pixel noise spreads evenly over all frequencies, so its share is far higher."""
    luminance = np.asarray(images, "float64")
    if luminance.ndim != 4:
        raise ValueError(f"images has shape {luminance.shape}: pass a batch (N, H, W, C) of channels-last "
                         "images, e.g. images[None] for one image.")
    luminance = luminance.mean(axis=-1)
    luminance -= luminance.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(luminance)) ** 2
    fy = np.fft.fftfreq(luminance.shape[1])[:, None]
    fx = np.fft.fftfreq(luminance.shape[2])[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    total = power[:, radius > 0].sum(axis=1)
    return power[:, radius > HIGH_FREQUENCY].sum(axis=1) / np.maximum(total, 1e-12)


def rank_of(scores, target):
    """1 = the target scores highest; a tie counts against it (a channel capped at 6 ties)."""
    scores = np.asarray(scores)
    others = np.delete(scores, target)
    return int(1 + np.sum(others >= scores[target]))


class LayerProbe:
    """A layer's per-channel activations on channels-last images of one size.

    ``probe(images)`` -> ``(N, channels)`` means over positions; ``probe.strongest(images)``
    the strongest position. Built from the model the library computes with
    (``model_facts``: nested models inlined), cut at the layer and rebuilt at ``size`` when
    that differs from the model's own.
    """

    def __init__(self, model, layer, size):
        facts = model_facts.of(model)
        facts.check_computable()
        working = facts.working
        self.model, self.info = model_cut.cut_at(working, facts.working_name(layer), size)
        self.info = facts.described(self.info)
        self.channels_first = catalogue.model_is_channels_first(working)
        output = self.model.outputs[0]
        if self.channels_first and len(output.shape) > 2:  # channels last for channel_means
            self.model = keras.Model(self.model.inputs[0], keras.ops.moveaxis(output, 1, -1))
        self.size = tuple(size)
        self.channels = int(self.info.n_filters)

    def __call__(self, images, batch=32):
        """``(N, channels)`` mean activations on channels-last ``images`` (in the input range)."""
        return channel_means(self.model, self._layout(images), batch)

    def strongest(self, images, batch=32):
        """``(N, channels)`` each channel's strongest position on ``images``."""
        return channel_maxima(self.model, self._layout(images), batch)

    def _layout(self, images):
        images = np.asarray(images, "float32")
        return np.moveaxis(images, -1, 1) if self.channels_first else images


_PROBES = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def probe_for(model, layer, size) -> LayerProbe:
    """The (cached) ``LayerProbe`` of ``model``'s ``layer`` at ``size`` (``(H, W)``)."""
    size = tuple(int(d) for d in size)
    with _LOCK:
        per_model = _PROBES.setdefault(model, {})
        key = (layer, size)
        if key not in per_model:
            per_model[key] = LayerProbe(model, layer, size)
        return per_model[key]
