"""Synthetic images with their natural evidence underneath: for grids on paper (the CLI's ``--images``)."""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from .. import render


def with_patches(image, patches, count=3, background=255):
    """``image`` (H, W, C) with up to ``count`` of ``patches`` (best first) in a row under it, each
    a square ``count``-th of its width; uint8 ``(H + gap + side, W, 3)``."""
    image = render.to_uint8(image)[..., :3]
    height, width = image.shape[:2]
    gap = max(2, width // 48)
    side = (width - (count - 1) * gap) // count
    tile = np.full((height + gap + side, width, 3), background, np.uint8)
    tile[:height] = image
    for i, patch in enumerate(list(patches)[:count]):
        patch = Image.fromarray(render.to_uint8(patch)[..., :3])
        smaller = patch.width >= side  # shrink smoothly; enlarge small patches with sharp pixels
        left = i * (side + gap)
        tile[height + gap:, left:left + side] = np.asarray(
            patch.resize((side, side), Image.LANCZOS if smaller else Image.NEAREST))
    return tile


def result_with_examples(result, examples, count=3):
    """``result`` (an ``ActMaxResult``) whose images carry each target's top ``count`` natural
    patches from ``examples`` underneath; its ``grid()`` and ``save()`` then draw them, captions
    included. Targets must be single filters that ``examples`` scanned."""
    scanned = [int(f) for f in examples.filters]
    for target in result.targets:
        if target not in scanned:  # list.index would only say "x is not in list"
            raise ValueError(f"result_with_examples: filter {target!r} of the result is not among the filters "
                             f"{scanned} that the examples of layer '{examples.layer}' scanned: scan it too, "
                             f"e.g. dataset_examples(model, '{examples.layer}', filters=result.targets).")
    tiles = [with_patches(image, examples.patches[scanned.index(target)], count)
             for image, target in zip(result.images, result.targets)]
    return dataclasses.replace(result, images=np.stack(tiles))
