"""The notebook widget: controls, a live grid (front-end in js/), a worker thread."""
from .actmax_widget import ActMaxWidget
from .grid import GridWidget

__all__ = ["ActMaxWidget", "GridWidget"]
