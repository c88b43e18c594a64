"""actmax_widgets: activation maximization for Keras 3 (TensorFlow, JAX or PyTorch).

keras-vis's API (``visualize_activation``, losses, regularizers, ``Optimizer``, ``utils``) on
Keras 3, plus ``visualize_filters`` (many filters in one compiled step) and ``ActMaxWidget``, a
live notebook widget.
"""
from __future__ import annotations

import importlib
import os

# TensorFlow prints C++ start-up lines on stderr when it loads (the CPU feature guard, oneDNN's
# note on round-off, CUDA factory registration): noise to a workshop participant. Level 2 hides
# the INFO and WARNING logs written once its logging is up; nothing it computes changes
# (TF_ENABLE_ONEDNN_OPTS, which does, is left alone). setdefault: a user's own setting wins. It
# must run before TensorFlow is imported, hence here, before any submodule.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import quiet_tensorflow  # noqa: E402  (the lines the log level cannot reach: see the module)

quiet_tensorflow.install()

__version__ = "0.1.0"

# The public names, imported when first used: importing the package stays free of TensorFlow,
# so ``python -m actmax_widgets --help`` answers at once and the widget's ipywidgets load only
# for ActMaxWidget.
_LAZY = {
    "ActMaxResult": ".result", "Snapshot": ".result", "ActMaxWidget": ".widget",
    "visualize_activation": ".visualization", "visualize_activation_with_losses": ".visualization",
    "visualize_filters": ".visualization", "Recipe": ".recipe",
    "dataset_examples": ".evidence", "Examples": ".evidence",
    "saliency_maps": ".attribution", "grad_cam": ".attribution", "activation_maps": ".attribution",
    "top_predictions": ".attribution", "heatmap_overlay": ".attribution", "visualize_saliency": ".attribution",
    "visualize_saliency_with_losses": ".attribution", "visualize_cam": ".attribution",
    "visualize_cam_with_losses": ".attribution", "overlay": ".attribution", "load_photo": ".photos",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'actmax_widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["ActMaxResult", "ActMaxWidget", "Examples", "Recipe", "Snapshot", "activation_maps", "dataset_examples",
           "grad_cam", "heatmap_overlay", "load_photo", "overlay", "saliency_maps", "top_predictions",
           "visualize_activation", "visualize_activation_with_losses", "visualize_cam", "visualize_cam_with_losses",
           "visualize_filters", "visualize_saliency", "visualize_saliency_with_losses"]
