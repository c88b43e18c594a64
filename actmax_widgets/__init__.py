"""actmax_widgets: activation maximization for Keras 3 / TensorFlow.

keras-vis's API (``visualize_activation``, losses, regularizers, ``Optimizer``, ``utils``) on
Keras 3, plus ``visualize_filters`` (many filters in one compiled step) and ``ActMaxWidget``, a
live notebook widget.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .result import ActMaxResult, Snapshot  # noqa: E402
from .visualization import (  # noqa: E402
    visualize_activation,
    visualize_activation_with_losses,
    visualize_filters,
)


def __getattr__(name):
    # The widget pulls in ipywidgets/anywidget: import it only when asked for, so the core
    # stays usable (and fast to import) in scripts.
    if name == "ActMaxWidget":
        from .widget import ActMaxWidget

        return ActMaxWidget
    raise AttributeError(f"module 'actmax_widgets' has no attribute {name!r}")


__all__ = ["ActMaxResult", "ActMaxWidget", "Snapshot", "visualize_activation",
           "visualize_activation_with_losses", "visualize_filters"]
