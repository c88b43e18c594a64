"""Sanity signals: three numbers that say how far to trust one synthetic image.

A synthetic image alone can mislead (people predict a unit better from its natural top examples
than from its synthetic image, Borowski et al., ICLR 2021). Each image gets:

- **superstimulus**: the filter's strongest response on the image ÷ its strongest response on
  the natural images scanned (``dataset_examples``; both at the strongest position). Above 1
  the image excites the filter more than any natural image found; below 1 it falls short of
  them, so the natural examples are the better evidence. (A layer capped at 6, ReLU6, caps
  both: there the ratio is often exactly 1.)
- **specificity**: the target's rank among all the layer's channels by mean activation on the
  image (1 = the image excites this filter more than any other). A poor rank means the image
  shows something many filters like, not this filter's own feature.
- **noise**: the image's high-frequency share (``measures.high_frequency_share``) beside natural
  photos'. Far above them, the image is mostly fine-grained pattern a person cannot read.

``sanity_signals(model, result, examples)`` measures them and attaches them to the result
(``result.sanity``); ``SanitySignals.badges(i)`` words them for the widget.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import arguments
from . import image_sources, measures

# Where a badge turns to "warn".
NOISE_LIMIT = 2.0  # high-frequency share above this multiple of natural photos'
SPECIFIC_SHARE = 0.02  # a rank within the top 2% of the layer's channels (at least #1) counts as specific


@dataclasses.dataclass
class SanitySignals:
    """The three signals for each image of an ``ActMaxResult`` (see the module's docstring).

    Attributes
    ----------
    layer : str
    targets : list, as in the result
    superstimulus : (F,) float — strongest activation on the image ÷ on the best natural example
        (NaN where there is none to compare with: a joint target, a filter not scanned, or one
        that never fired on the natural images)
    rank : (F,) int — 1 = the image excites its target more than any other channel of the layer
    channels : int — how many channels the layer has
    high_frequency : (F,) float — each image's high-frequency share
    natural_high_frequency : float — the median share of the natural images
    images_scanned : int — how many natural images the superstimulus compares with
    """

    layer: str
    targets: list
    superstimulus: np.ndarray
    rank: np.ndarray
    channels: int
    high_frequency: np.ndarray
    natural_high_frequency: float
    images_scanned: int

    def __len__(self):
        return len(self.targets)

    def badges(self, i):
        """Three badges for image ``i``: dicts ``{"name", "text", "tooltip", "level"}`` with
        ``name`` one of ``'superstimulus'``, ``'specificity'``, ``'noise'`` and ``level``
        ``'ok'`` or ``'warn'``."""
        i = arguments.check_int("i", i, minimum=0, maximum=len(self.targets) - 1,
                                fix=f"pass the position of an image, 0..{len(self.targets) - 1}")
        target = self.targets[i]
        name = f"filter {target}" if not isinstance(target, list) else f"filters {'+'.join(map(str, target))}"
        return [self._superstimulus(i, name), self._specificity(i, name), self._noise(i)]

    def _superstimulus(self, i, name):
        ratio = float(self.superstimulus[i])
        if not np.isfinite(ratio):
            why = ("joint targets have no natural examples of their own" if isinstance(self.targets[i], list)
                   else f"{name} was not scanned, or never fired on the {self.images_scanned} natural images")
            return _badge("superstimulus", "–", f"No natural image to compare with: {why}.", "warn")
        if ratio >= 1:
            tooltip = (f"This picture excites {name} {ratio:.1f}× as strongly as the best of "
                       f"{self.images_scanned} natural images: a 'superstimulus', stronger than anything natural "
                       "that was found.")
        else:
            tooltip = (f"This picture excites {name} only {ratio:.1f}× as strongly as the best of "
                       f"{self.images_scanned} natural images: real photos drive it harder, so trust its natural "
                       "examples more than this picture.")
        return _badge("superstimulus", f"{_shown(ratio, 1.0)}×", tooltip, "ok" if ratio >= 1 else "warn")

    def _specificity(self, i, name):
        rank = int(self.rank[i])
        specific = rank <= max(1, int(self.channels * SPECIFIC_SHARE))
        if rank == 1:
            tooltip = (f"Of the layer's {self.channels} filters, this picture excites {name} the most: it shows "
                       "that filter's own feature.")
        else:
            tooltip = (f"Of the layer's {self.channels} filters, {rank - 1} respond to this picture even more "
                       f"than {name} (which comes #{rank})" +
                       (": still among the top few." if specific else
                        ": it may show a feature many filters like rather than this filter's own."))
        return _badge("specificity", f"#{rank} of {self.channels}", tooltip, "ok" if specific else "warn")

    def _noise(self, i):
        share, natural = float(self.high_frequency[i]), self.natural_high_frequency
        times = share / natural if natural > 0 else float("inf")
        tooltip = (f"Fine-grained detail makes up {share:.0%} of this picture's contrast, against {natural:.0%} in "
                   f"natural photos ({times:.1f}×)." +
                   (" Far above photos: mostly noise-like pattern a person cannot read; the network may be "
                    "reacting to texture no photo has." if times > NOISE_LIMIT else
                    " About as smooth as a photo: not noise."))
        return _badge("noise", f"{_shown(times, NOISE_LIMIT)}× detail", tooltip,
                      "warn" if times > NOISE_LIMIT else "ok")


def _shown(value, boundary):
    """``value`` with one decimal, or two where one would round it onto the other side of
    ``boundary`` (0.97 is "0.97", not "1.0", beside a warning that it is below 1)."""
    text = f"{value:.1f}"
    if (value < boundary) != (float(text) < boundary) or (value > boundary) != (float(text) > boundary):
        hundredths = round(value * 100, 6)  # 2.03 stays 203, not 203.00000000000003
        rounded = (math.floor(hundredths) if value < boundary else math.ceil(hundredths)) / 100
        return f"{rounded:.2f}"
    return text


def _badge(name, text, tooltip, level):
    return {"name": name, "text": text, "tooltip": tooltip, "level": level}


def sanity_signals(model, result, examples, *, natural_images=None, attach=True) -> SanitySignals:
    """Measure the three signals for every image of ``result`` and (``attach``) set ``result.sanity``.

    Parameters
    ----------
    model : keras.Model
        The model ``result`` was made from.
    result : ActMaxResult
        From ``visualize_filters`` (or the widget) on a layer of ``model``.
    examples : Examples
        ``dataset_examples`` of the same layer: the natural images to compare with.
    natural_images : optional
        The photos whose high-frequency share is the noise reference (anything
        ``dataset_examples`` takes as ``images``); default the offline set, ``default_images()``.
    attach : bool
        Also store the signals as ``result.sanity``.
    """
    from ..result import ActMaxResult  # the evidence subpackage sits above the core
    from .examples import Examples

    arguments.check_model("model", model)
    if not isinstance(result, ActMaxResult):
        raise TypeError(f"result={arguments.show(result)} is not an ActMaxResult: pass what visualize_filters "
                        "returned (or widget.result).")
    if not isinstance(examples, Examples):
        raise TypeError(f"examples={arguments.show(examples)} is not an Examples: pass what dataset_examples "
                        "returned for the same layer.")
    if examples.layer != result.layer_name:
        raise ValueError(f"examples are of layer '{examples.layer}' and result of layer '{result.layer_name}': "
                         f"scan the same layer, dataset_examples(model, '{result.layer_name}').")
    images = np.asarray(result.raw_images, "float32")
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"result holds images of shape {images.shape}: sanity signals need at least one 2-D "
                         "image (N, H, W, C); run visualize_filters on a layer of an image model.")
    probe = measures.probe_for(model, result.layer_name, images.shape[1:3])
    means, strongest = probe(images), probe.strongest(images)
    superstimulus, rank = [], []
    for row, target in enumerate(result.targets):
        members = target if isinstance(target, list) else [target]
        rank.append(min(measures.rank_of(means[row], member) for member in members))
        best = examples.best_activation(target) if target in examples.filters else np.nan
        superstimulus.append(strongest[row, target] / best if best > 0 else np.nan)
    signals = SanitySignals(
        layer=result.layer_name, targets=list(result.targets), superstimulus=np.array(superstimulus, "float64"),
        rank=np.array(rank, int), channels=probe.channels,
        high_frequency=measures.high_frequency_share(images),
        natural_high_frequency=natural_high_frequency(natural_images, images.shape[1:3], images.shape[-1]),
        images_scanned=int(examples.images_scanned))
    if attach:
        result.sanity = signals
    return signals


# Enough photos for a stable median, few enough to load in a moment.
_NATURAL_SAMPLE = 256


def natural_high_frequency(images=None, size=(128, 128), channels=3) -> float:
    """The median high-frequency share of ``images`` (default: the offline set) fitted to ``size``;
    cached for image sets with a fingerprint (the default set, folders, arrays)."""
    source = image_sources.open_source(images, "natural_images")
    if source.fingerprint is None:
        return _median_share(source, tuple(size), channels)
    return _cached_median_share(source.fingerprint, tuple(int(d) for d in size), int(channels), source)


def _median_share(source, size, channels):
    shares = []
    for batch in image_sources.iterate(None, size, 64, channels, "natural_images", source=source):
        shares.extend(measures.high_frequency_share(batch.images))
        if len(shares) >= _NATURAL_SAMPLE:
            break
    return float(np.median(shares))


_SHARES = {}


def _cached_median_share(fingerprint, size, channels, source):
    key = (fingerprint, size, channels)
    if key not in _SHARES:
        _SHARES[key] = _median_share(source, size, channels)
    return _SHARES[key]
