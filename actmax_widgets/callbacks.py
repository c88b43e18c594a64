"""Callbacks: watch an optimization step by step (keras-vis's interface).

``callback(i, named_losses, overall_loss, grads, wrt_value)`` is called after each step with
numpy values: ``named_losses`` is a list of ``(name, value)``, ``wrt_value`` the current input in
the model's layout; ``on_end()`` once at the end.
"""
from __future__ import annotations

import pprint

import numpy as np

from . import render, utils


class OptimizerCallback:
    """Base class for callbacks: override ``callback`` and/or ``on_end``."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        """Called after step ``i`` (0-based)."""

    def on_end(self):
        """Called once when the optimization ends (also when it is stopped)."""


class Print(OptimizerCallback):
    """Prints each named loss and the overall loss at every step (``verbose=True`` adds it)."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        print(f"Iteration: {i + 1}, named_losses: {pprint.pformat(named_losses)}, "
              f"overall loss: {overall_loss}")


class GifGenerator(OptimizerCallback):
    """Records each step's image (the grid of all filters, in ``visualize_filters``) and writes
    an animated GIF to ``path`` at the end.

    Parameters
    ----------
    path : str
        Where to write the GIF (``.gif`` is appended if missing).
    input_range : tuple
        The input range the images are in, for display.
    every : int
        Keep one frame every ``every`` steps (keeps 200-step GIFs small).
    """

    def __init__(self, path, input_range=(0, 255), every=2, duration_ms=60):
        self.path = path if str(path).endswith(".gif") else f"{path}.gif"
        self.input_range = input_range
        self.every = max(1, int(every))
        self.duration_ms = duration_ms
        self.frames = []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        if i % self.every:
            return
        batch = np.asarray(wrt_value)
        batch = batch if batch.ndim == 4 else batch[None]
        images = [render.to_uint8(utils.deprocess_input(_channels_last(image), (0, 255))) for image in batch]
        # visualize_filters passes the whole batch: its frames are the grid of every filter.
        self.frames.append(images[0] if len(images) == 1 else render.labelled_grid(images, margin=2))

    def on_end(self):
        if self.frames:
            render.save_gif(self.frames, self.path, self.duration_ms)


def _channels_last(image):
    if image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        return np.moveaxis(image, 0, -1)
    return image
