"""Diverse variants of each channel: ``k`` more images per channel that the package's diversity
penalty (``losses.Diversity``) pushes apart, so the channel view shows the range of what one
channel responds to, not one picture of it.

One ``visualize_filters`` call per chunk lists each filter ``k`` times; the penalty compares only
copies of the same filter (``engine.gram_similarity`` groups samples by target), so a channel's
variants do not depend on the other filters in the batch, nor on how the layer was cut into
chunks. A layer's last, shorter chunk is padded (one compiled step per layer) with *other*
filters of the layer, never with more copies of its own: an extra copy would join a filter's
group and change its variants.
"""
from __future__ import annotations

import numpy as np

DEFAULT_VARIANTS = 3
# The penalty's weight against the channel's activation (weight 1). Measured on EfficientNet-Lite0
# (bench/QUALITY.md, block4b_add, fourier, 4 copies): weight 3 leaves the copies' Gram matrices
# 0.84 alike (near-identical pictures), 10 brings them to 0.32 for 10 % less activation; the
# atlas's screenshots (bench/ATLAS.md) show distinct pictures of the same pattern at 10.
DIVERSITY = 10.0
# The variants draw their start images from their own stream (the seed plus this), so none
# starts where the channel's main image started and repeats it.
SEED_OFFSET = 7919


def settings(count: int) -> dict | None:
    """The manifest's ``settings['variants']`` for ``count`` variants (None for none: an atlas
    built without variants keeps the settings it had before variants existed)."""
    return {"count": int(count), "diversity": DIVERSITY} if count else None


def recipe_arguments(style: str, diversity: float) -> dict:
    """``visualize_filters``'s ``recipe=`` for ``style`` with the diversity penalty at ``diversity``."""
    from .. import styles

    recipe = styles.get(style)
    return {"recipe": recipe.replace(diversity=float(diversity)) if diversity else recipe}


def listed(chunk, filters_per_chunk: int, count: int) -> list[int]:
    """Each filter of ``chunk`` ``count`` times in a row, a short last chunk padded with the
    layer's first filters (not in this chunk: it starts past them) to the full chunk size."""
    filters = list(chunk.filters)
    if chunk.start > 0 and len(filters) < filters_per_chunk:
        filters += list(range(filters_per_chunk - len(filters)))
    return [f for f in filters for _ in range(count)]


def groups(filters: list[int], main_batch: int, count: int) -> list[list[int]]:
    """``filters`` in groups whose ``count`` copies each fit the main batch (``main_batch``
    images; one filter's copies at least), all of one size so the layer keeps one compiled step:
    a short last group is filled with earlier filters (never its own: a copy would join a
    filter's group and change its variants), whose images are dropped."""
    size = min(len(filters), max(1, main_batch // count))
    found = [filters[start:start + size] for start in range(0, len(filters), size)]
    found[-1] = found[-1] + filters[:size - len(found[-1])]
    return found


def compute(model, chunk, settings_: dict, visualize):
    """``(images (n, k, H, W, C) uint8, activations (n, k))`` of ``chunk``'s filters' variants;
    ``visualize(model, chunk, filters, settings, batch_size, diversity=, seed=)`` runs one call."""
    spec = settings_["variants"]
    count, n = int(spec["count"]), len(chunk.filters)
    filters = listed(chunk, settings_["filters_per_chunk"], 1)
    images, activations = [], []
    # One call per group of filters, its copies in one batch (copies split over batches would not
    # be compared) and no batch larger than the main one's (filters_per_chunk x count images
    # would run out of memory on a deep net). Images are keyed per (filter, copy): same images.
    for group in groups(filters, settings_["filters_per_chunk"], count):
        targets = [f for f in group for _ in range(count)]
        result = visualize(model, chunk, targets, settings_, batch_size=len(targets), diversity=spec["diversity"],
                           seed=settings_["seed"] + SEED_OFFSET)
        images.append(np.asarray(result.images))
        activations.append(np.asarray(result.final_activations, dtype="float64"))
    images = np.concatenate(images)[:n * count]
    activations = np.concatenate(activations)[:n * count]
    return images.reshape(n, count, *images.shape[1:]), activations.reshape(n, count)
