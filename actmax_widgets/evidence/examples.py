"""What ``dataset_examples`` returns: each filter's strongest natural image patches."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import render


@dataclasses.dataclass
class Examples:
    """The natural images that excite each filter most, as the patches its strongest position sees.

    Attributes
    ----------
    layer : str
    filters : list of int, the filter (or unit) indices, one row each below
    patches : (F, k, h, w, C) uint8, best first: the receptive field of the filter's strongest
        position in each image (the whole image for a dense unit); ``k`` is at most the number
        of images scanned
    activations : (F, k) float32, descending: the filter's activation at that position
    where : (F, k, 4) int, the patch's box ``(top, left, bottom, right)`` (bottom and right
        exclusive) in the scanned image's pixels (the image fitted to ``image_size``)
    image_indices : (F, k) int, into ``image_names``
    image_names : list of str, every image scanned, in order: a file path or ``'images[i]'``
    images_scanned : int
    complete : bool, False when stopped part-way (``should_stop``): the best of what was scanned
    receptive_field : (h, w), in input pixels, of one position (may exceed the image)
    image_size : (H, W), what each image was fitted to before scanning
    """

    layer: str
    filters: list
    patches: np.ndarray
    activations: np.ndarray
    where: np.ndarray
    image_indices: np.ndarray
    image_names: list
    images_scanned: int
    complete: bool
    receptive_field: tuple
    image_size: tuple

    def _row(self, filter_index):
        if filter_index not in self.filters:
            shown = ", ".join(map(str, self.filters[:12])) + (", ..." if len(self.filters) > 12 else "")
            raise ValueError(f"filter={filter_index!r} was not scanned: these Examples hold filters {shown}; "
                             f"scan it with dataset_examples(model, '{self.layer}', filters=[{filter_index!r}]).")
        return self.filters.index(filter_index)

    def top_patch(self, filter_index) -> np.ndarray:
        """The patch that excites filter ``filter_index`` most, uint8 ``(h, w, C)``."""
        row = self._row(filter_index)
        if self.patches.shape[1] == 0:
            raise ValueError("No image was scanned (stopped before the first batch): there is no patch to show.")
        return self.patches[row, 0]

    def best_activation(self, filter_index) -> float:
        """The highest activation of filter ``filter_index`` on the images scanned (NaN for none)."""
        row = self._row(filter_index)
        return float(self.activations[row, 0]) if self.activations.shape[1] else float("nan")

    def grid(self, title=None, tile_size=None) -> np.ndarray:
        """One row per filter, its patches best first, each captioned with the filter and its
        activation; ``(H, W, 3)`` uint8. Small patches are enlarged by a whole factor."""
        if self.patches.shape[1] == 0:
            raise ValueError("No image was scanned (stopped before the first batch): there is no grid to draw.")
        k = self.patches.shape[1]
        patches = list(self.patches.reshape((-1,) + self.patches.shape[2:]))
        labels = [f"{f} · {value:.3g}" for f, row in zip(self.filters, self.activations) for value in row]
        if title is None:
            done = "" if self.complete else " (stopped part-way)"
            title = f"{self.layer} · top {k} of {self.images_scanned} images{done}"
        return render.labelled_grid(patches, labels, cols=k, title=title,
                                    tile_size=tile_size or render.readable_tile_size(patches))

    def save(self, path, **grid_options):
        """Write ``grid()`` as a PNG file; returns ``path``."""
        render.save_png(self.grid(**grid_options), path)
        return path
