"""Token layers of vision transformers: which token is which image patch.

A ViT cuts the image into patches, turns each into a token and prepends a class token (some
models also "register" tokens), so its layers output ``(B, tokens, C)``: ``tokens = n_prefix +
rows * cols``. Visualizing a unit of such a layer means its patch tokens: the prefix tokens see
the whole image and belong to no place in it (Ghiasi et al. 2022, "What do Vision Transformers
Learn?", visualize the MLP hidden units averaged over the patch tokens). This module finds the
patch grid from shapes alone and puts tokens back on it.
"""
from __future__ import annotations

import math

from keras import ops

# Class token plus up to a few register tokens (DINOv2 uses 4): more than this is no ViT prefix.
MAX_PREFIX = 8


def grid_for(n_tokens: int, image_size=None):
    """``(n_prefix, rows, cols)`` for ``n_tokens`` tokens of an image of ``image_size`` (H, W), or
    None when no grid fits.

    The fewest prefix tokens that leave a grid of the image's aspect (a square for an unknown or
    square image) win: 17 tokens of a 32 × 32 image are 1 class token and 4 × 4 patches.
    """
    height, width = (image_size or (None, None))[:2]
    aspect = height / width if height and width else 1.0
    for n_prefix in range(0, min(MAX_PREFIX, n_tokens - 1) + 1):
        patches = n_tokens - n_prefix
        rows = round(math.sqrt(patches * aspect))
        if rows > 0 and patches % rows == 0 and rows * round(rows / aspect) == patches:
            return n_prefix, rows, patches // rows
    return None


def patch_grid(model, layer):
    """``(n_prefix, rows, cols)`` of a token layer of ``model`` (a name, index or layer).

    Raises
    ------
    ValueError
        If the layer's output is not ``(B, tokens, C)`` tokens of an image model (see
        ``catalogue.describe_layer`` for which layers have ``kind == "tokens"``).
    """
    from . import catalogue  # the catalogue uses grid_for: import here, not at the top

    info = catalogue.describe_layer(model, layer)
    if info.kind != "tokens":
        raise ValueError(f"layer={info.name!r} outputs {info.output_shape} ({info.kind}), not the "
                         f"(batch, tokens, channels) of a transformer on images: pick a token layer "
                         f"(catalogue.visualizable_layers lists each layer's kind).")
    return info.grid


def patch_tokens(tensor, grid):
    """The patch tokens ``(B, rows * cols, C)`` of ``tensor`` ``(B, tokens, C)``: prefix dropped."""
    n_prefix, rows, cols = _checked(tensor, grid)
    return tensor[:, n_prefix:n_prefix + rows * cols]


def to_grid(tensor, grid):
    """``tensor`` ``(B, tokens, C)`` as ``(B, rows, cols, C)``: the prefix (class/register) tokens
    dropped and the patch tokens laid out row by row, as the patch embedding flattened them."""
    _, rows, cols = _checked(tensor, grid)
    return ops.reshape(patch_tokens(tensor, grid), (-1, rows, cols, tensor.shape[-1]))


def _checked(tensor, grid):
    n_prefix, rows, cols = (int(n) for n in grid)
    shape = tuple(tensor.shape)
    if len(shape) != 3 or shape[1] != n_prefix + rows * cols:
        raise ValueError(f"A tensor of shape {shape} does not hold grid={tuple(grid)}: it needs shape "
                         f"(batch, {n_prefix + rows * cols}, channels) ({n_prefix} prefix tokens + "
                         f"{rows} × {cols} patches); use the grid tokens.patch_grid gives for its layer.")
    return n_prefix, rows, cols
