"""Attribution: where in a photo a network looks for a class or a filter.

Batched (many photos and/or many targets in one compiled step): ``saliency_maps`` (plain,
guided, rectified, SmoothGrad), ``grad_cam`` (and Grad-CAM++), ``activation_maps`` (where each
conv filter fires), ``top_predictions``, and ``heatmap_overlay`` to draw a map over the photo.
keras-vis's ``visualize_saliency``, ``visualize_cam`` and ``overlay`` (``keras_vis``) are thin
wrappers with keras-vis's names, signatures and defaults.
"""
from .filter_maps import activation_maps
from .cam import grad_cam
from .keras_vis import (overlay, visualize_cam, visualize_cam_with_losses, visualize_saliency,
                        visualize_saliency_with_losses)
from .heatmaps import heatmap_overlay
from .predictions import top_predictions
from .saliency import saliency_maps

__all__ = ["activation_maps", "grad_cam", "heatmap_overlay", "overlay", "saliency_maps", "top_predictions",
           "visualize_cam", "visualize_cam_with_losses", "visualize_saliency", "visualize_saliency_with_losses"]
