"""A heatmap drawn over a photo (the one copy the widget, the notebooks and users share)."""
from __future__ import annotations

import numpy as np

from .. import arguments


def heatmap_overlay(photo, heat, alpha=0.5) -> np.ndarray:
    """``photo`` (uint8 (H, W, 3), or (H, W)/(H, W, 1) gray) with ``heat`` ((H, W) in [0, 1]) in
    matplotlib's 'jet' colours blended over it: ``alpha`` of the heatmap, ``1 - alpha`` of the
    photo. Returns uint8 (H, W, 3)."""
    from matplotlib import colormaps

    alpha = arguments.check_number("alpha", alpha, 0.0, 1.0, fix="pass a value in 0..1, e.g. alpha=0.5")
    photo = np.asarray(photo)
    if photo.ndim == 2:
        photo = photo[..., None]
    if photo.ndim != 3 or photo.shape[-1] not in (1, 3, 4):
        raise ValueError(f"photo has shape {photo.shape}: pass an image (H, W, 3) (or gray (H, W)).")
    photo = np.repeat(photo, 3, axis=-1) if photo.shape[-1] == 1 else photo[..., :3]
    heat = np.asarray(heat, dtype="float32")
    if heat.shape != photo.shape[:2]:
        raise ValueError(f"heat has shape {heat.shape} and photo {photo.shape}: the heatmap must be (H, W) of the "
                         "photo's size (grad_cam and saliency_maps return maps at the size the model sees).")
    colours = colormaps["jet"](np.clip(np.nan_to_num(heat), 0.0, 1.0))[..., :3] * 255.0
    blended = alpha * colours + (1.0 - alpha) * photo.astype("float32")
    return np.clip(np.round(blended), 0, 255).astype("uint8")
