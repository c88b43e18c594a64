"""The Image size control: a number box bounded to the sizes the current layer can run at.

A layer after a ``Flatten`` runs only at the model's own size; a convolutional layer runs at
any size from a few pixels (``image_sizes``). The box's bounds follow the layer, so the UI
cannot ask for a size the model cannot run, and the note beside it says what works and why.
A side chosen on a layer that takes any size comes back when the user returns to such a layer.
"""
from __future__ import annotations

import html
import numbers

import ipywidgets as w

from .. import image_sizes

TOOLTIP = "Side of the square image, in pixels: the note beside it says which sizes this layer runs at"


class ImageSizeControl:
    """``box`` (a ``BoundedIntText``, the side in pixels) and ``note``, kept to one layer's sizes."""

    def __init__(self, model, style, layout):
        self.model = model
        self.box = w.BoundedIntText(value=96, min=image_sizes.MIN_SIDE, max=image_sizes.MAX_SIDE,
                                    description="Image size", style=style, layout=layout, tooltip=TOOLTIP)
        self.note = w.HTML()
        self.adjusting = False  # True while the box follows a layer: not the user's choice
        self.sizes = None  # the current layer's LayerSizes
        self._by_layer = {}
        self._free_side = None  # the side last used on a layer that takes any size

    def show_layer(self, layer):
        """Bound the box to ``layer``'s sizes; a size it cannot run becomes one it can."""
        if self.sizes is not None and not self.sizes.fixed:
            self._free_side = self.box.value
        self.sizes = self._sizes_of(layer)
        sizes = self.sizes
        if sizes.fixed:
            low = high = sizes.own_side or min(sizes.model_size)
            side = low
        else:
            low, high = sizes.min_side, max(image_sizes.MAX_SIDE, sizes.min_side)
            side = self._free_side if self._free_side is not None else self.box.value
            side = side if sizes.accepts(side) else sizes.suggest(side)
        self._set(low, high, side)
        self.note.value = (f'<span style="color:var(--jp-ui-font-color2,#757575);padding-left:8px">'
                           f'{html.escape(sizes.describe())}</span>')

    def prefer(self, side):
        """A preset's side: used where the layer runs at it, capped at a fixed-size model's own."""
        self._set(self.box.min, self.box.max, self.sizes.suggest(side))

    def choose(self, size, argument="image_size"):
        """Set ``size`` from code: ValueError naming ``argument`` when the layer cannot run at it."""
        self.sizes.check(size, argument)
        one_side = isinstance(size, numbers.Integral)  # numpy integers too
        side = int(size) if one_side else min(size)
        if not self.sizes.fixed and not one_side:
            raise ValueError(f"{argument}={size!r}: the widget shows square images; give one int, e.g. "
                             f"{argument}={max(size)}.")
        self.box.value = side

    def run_size(self):
        """The size to run at: the box's side, or the model's own (even non-square) where fixed."""
        if self.sizes.fixed:
            return self.sizes.own_side or tuple(self.sizes.model_size)
        return self.box.value

    def _sizes_of(self, layer):
        if layer not in self._by_layer:
            self._by_layer[layer] = image_sizes.sizes_for(self.model, layer)
        return self._by_layer[layer]

    def _set(self, low, high, side):
        box = self.box
        self.adjusting = True
        try:
            # In this order the bounds never cross (ipywidgets refuses min > max).
            box.max = max(box.max, high)
            box.min = low
            box.max = high
            box.value = side
        finally:
            self.adjusting = False
