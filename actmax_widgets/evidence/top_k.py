"""The k strongest images per filter, kept while images stream past: bounded memory.

Each batch brings, per image and filter, the filter's strongest activation over the image's
positions and where it was. The accumulator keeps only the current k best per filter, with the
patch each one's position sees, cut from the batch while the batch is still in memory; all other
activations are dropped. One image counts once per filter (its strongest position), so the k
patches of a filter come from k different images. Ties go to the image seen first.
"""
from __future__ import annotations

import numpy as np


class TopK:
    """Top-``k`` images per filter over the batches passed to ``add``.

    ``windows``: ``(positions, 4)`` int, the patch box ``(top, left, bottom, right)`` of each flat
    output position (all alike for a dense unit: the whole image); every box has the same size.
    """

    def __init__(self, n_filters, k, windows, channels):
        self.k = k
        self.windows = np.asarray(windows, dtype=np.int64)
        h, w = (self.windows[0, 2:] - self.windows[0, :2]).tolist()
        self.values = np.full((n_filters, k), -np.inf, np.float32)
        self.image_indices = np.full((n_filters, k), -1, np.int64)
        self.positions = np.zeros((n_filters, k), np.int64)
        self._store = np.zeros((n_filters, k, h, w, channels), np.uint8)  # patches by slot
        self.slots = np.tile(np.arange(k), (n_filters, 1))  # the slot of each ranked entry
        self.seen = 0

    def add(self, best, positions, images):
        """Merge one batch: ``best`` ``(B, F)`` activations, ``positions`` ``(B, F)`` flat output
        positions, ``images`` ``(B, H, W, C)`` uint8 (the batch's pixels, for the patches)."""
        values = np.concatenate([self.values, np.asarray(best, np.float32).T], axis=1)
        # Stable, so on a tie the earlier image (already kept, or earlier in the batch) stays first.
        order = np.argsort(-values, axis=1, kind="stable")[:, :self.k]
        from_batch = order >= self.k
        batch_rows = np.where(from_batch, order - self.k, 0)
        kept = np.where(from_batch, 0, order)
        new_positions = np.take_along_axis(np.asarray(positions, np.int64).T, batch_rows, axis=1)
        slots = self._slots_for(from_batch, kept)
        for f, j in zip(*np.nonzero(from_batch)):
            top, left, bottom, right = self.windows[new_positions[f, j]]
            self._store[f, slots[f, j]] = images[batch_rows[f, j], top:bottom, left:right]
        self.values = np.take_along_axis(values, order, axis=1)
        self.image_indices = np.where(from_batch, self.seen + batch_rows,
                                      np.take_along_axis(self.image_indices, kept, axis=1))
        self.positions = np.where(from_batch, new_positions, np.take_along_axis(self.positions, kept, axis=1))
        self.slots = slots
        self.seen += len(best)

    def _slots_for(self, from_batch, kept):
        """Where each ranked entry's patch lives: kept entries keep their slot, new ones take the
        slots of those pushed out (patches never move: a layer's are hundreds of megabytes)."""
        old_slots = np.take_along_axis(self.slots, kept, axis=1)
        used = np.zeros_like(from_batch)
        rows = np.nonzero(~from_batch)
        used[rows[0], old_slots[rows]] = True
        free = np.argsort(used, axis=1, kind="stable")  # free slots first, in slot order
        new_rank = np.cumsum(from_batch, axis=1) - 1
        return np.where(from_batch, np.take_along_axis(free, np.maximum(new_rank, 0), axis=1), old_slots)

    @property
    def patches(self):
        """``(F, k, h, w, C)`` uint8, best first (slots still empty are black)."""
        return self._store[np.arange(len(self.slots))[:, None], self.slots]  # one copy per patch

    def filled(self):
        """How many of the k slots hold an image: ``min(k, images seen)``."""
        return min(self.k, self.seen)
