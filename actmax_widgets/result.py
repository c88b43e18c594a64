"""What a batched run returns: images, histories, flags; and the snapshots it streams."""
from __future__ import annotations

import dataclasses

import numpy as np

from . import frames as frames_module, render


@dataclasses.dataclass
class Snapshot:
    """The state of a run part-way through, for live displays.

    ``images`` are the best images so far (uint8, channels-last) for every target; targets whose
    chunk has not started yet are ``None``. ``activations`` and ``losses`` are the latest values
    (NaN for targets not started).
    """

    step: int
    total_steps: int
    images: list
    activations: np.ndarray
    losses: np.ndarray
    activation_history: np.ndarray  # (steps so far in the current chunk, n_targets) — NaN elsewhere
    dead: np.ndarray
    seconds: float

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0


@dataclasses.dataclass
class ActMaxResult:
    """Images that maximize each target, with their histories.

    Attributes
    ----------
    images : (N, H, W, C) uint8 (or float32 for a float ``input_range``), channels-last
    raw_images : (N, H, W, C) float32, the optimized inputs in ``input_range``
    targets : list; a filter index (or a list of them, for a joint target) per image
    labels : list of str, one per image
    layer_name : str
    loss_history, activation_history : (steps, N) float32
    term_history : dict of loss name -> (steps, N)
    dead : (N,) bool — the target's activation never moved (zero gradient from the start)
    steps : int — steps done (fewer than asked when stopped)
    stopped : bool
    seed : int — pass it back as ``seed=`` to reproduce these images
    seconds, compile_seconds : float
    precision : str — what the model computed in (``'auto'`` resolved: ``'float32'`` or ``'bfloat16'``)
    frames : list, one per image, of ``(step, uint8 image)`` — the image every few steps, for
        ``save_gif`` (``frames`` module: bounded memory); empty lists when the run kept none
    sanity : ``evidence.sanity.SanitySignals`` or None — how far to trust each image (superstimulus,
        specificity, noise); None until ``evidence.sanity_signals(model, result, examples)`` attaches it
    alpha : (N, H, W) float32 in [0, 1] or None — where each image's feature is: MACO's
        attribution mask (|d objective / d image| summed over the run, ``alpha_from_attribution``);
        None for styles that do not accumulate it. ``grid(alpha=True)`` fades the rest to white.
    """

    images: np.ndarray
    raw_images: np.ndarray
    targets: list
    labels: list
    layer_name: str
    loss_history: np.ndarray
    activation_history: np.ndarray
    term_history: dict
    dead: np.ndarray
    steps: int
    stopped: bool
    seed: int
    seconds: float
    compile_seconds: float = 0.0
    precision: str = "float32"
    frames: list = dataclasses.field(default_factory=list, repr=False)
    sanity: object = dataclasses.field(default=None, repr=False)
    alpha: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]

    def __array__(self, dtype=None, copy=None):
        return self.images if dtype is None else self.images.astype(dtype)

    @property
    def final_activations(self) -> np.ndarray:
        """The target activation at the last step, per image."""
        if len(self.activation_history) == 0:
            return np.full(len(self.images), np.nan, "float32")
        return self.activation_history[-1]

    def grid(self, cols=None, labels=True, title=None, tile_size=None, alpha=False) -> np.ndarray:
        """All images in one labelled grid, ``(H, W, 3)`` uint8; images under
        ``render.READABLE_TILE`` px are enlarged by a whole factor unless ``tile_size`` is given.
        ``alpha=True`` fades each image to white where its ``alpha`` is low (MACO results)."""
        tile_size = tile_size or render.readable_tile_size(self.images)
        captions = None
        if labels:
            captions = [f"{label}{' (dead)' if dead else ''}" for label, dead in zip(self.labels, self.dead)]
        images = self.images
        if alpha:
            if self.alpha is None:
                raise ValueError("alpha=True needs a result with an alpha mask: run with style='maco'.")
            images = [render.with_alpha(image, mask) for image, mask in zip(self.images, self.alpha)]
        return render.labelled_grid(images, captions, cols=cols, title=title, tile_size=tile_size)

    def save(self, path, **grid_options):
        """Write the labelled grid as a PNG file."""
        render.save_png(self.grid(**grid_options), path)
        return path

    def save_gif(self, path, filter=None, duration_ms=80):
        """Write how the images grew over the run as a looping animation: the whole grid, or
        one filter's image (``filter``: its index, as in ``targets``). A ``.webp`` path writes an
        animated WebP, any other a GIF. Returns ``path``."""
        data = self.animation(filter, render.animation_format(path), duration_ms)  # a refusal leaves the file be
        with open(path, "wb") as file:
            file.write(data)
        return path

    def animation(self, filter=None, image_format="GIF", duration_ms=80, position=None) -> bytes:
        """The bytes ``save_gif`` writes (the widget's "Download GIF" sends these). ``position``
        picks an image by its index in ``images`` instead (diverse copies share a filter)."""
        if position is not None:
            if not 0 <= position < len(self.images):
                raise ValueError(f"position={position} is not an image of this result: pass 0 to "
                                 f"{len(self.images) - 1}.")
            chosen = [position]
        else:
            chosen = range(len(self.images)) if filter is None else [self._position(filter)]
        kept = [self.frames[i] if i < len(self.frames) else [] for i in chosen]
        if not any(kept):
            raise ValueError("This result kept no frames of its run: run visualize_filters with "
                             "keep_frames > 0 (the default keeps 40) to save a GIF.")
        # An image without frames (e.g. a precomputed atlas tile) shows its final state throughout.
        kept = [frames or [(0, self.images[i])] for frames, i in zip(kept, chosen)]
        tile_size = render.readable_tile_size(self.images)
        total = self.steps

        def draw(images, step):
            return render.labelled_grid(images, [self.labels[i] for i in chosen],
                                        title=f"{self.layer_name} · step {step + 1} of {total}",
                                        tile_size=tile_size, cols=None if len(chosen) > 1 else 1)

        pictures = frames_module.grid_frames(kept, draw)
        return render.animation_bytes(pictures, image_format, duration_ms)

    def _position(self, filter):
        """The image of ``filter`` (the first, for a filter listed several times)."""
        for position, target in enumerate(self.targets):
            if target == filter:
                return position
        raise ValueError(f"filter={filter!r} is not among this result's targets {self.targets}: "
                         "pass one of them, or filter=None for the whole grid.")


# The share of each image's pixels at full alpha: Xplique clips the accumulated gradient at its
# 80th percentile; a little less makes the feature stand out more on small images.
ALPHA_PERCENTILE = 90


def _blur(maps, sigma):
    """Separable Gaussian blur of ``(N, H, W)`` maps (edges reflected without repeating the edge
    pixel: NumPy's "reflect" is SciPy's "mirror"). Whole arrays per axis, not a Python call per
    row: 512 maps at 224 px are a run's end, not seconds of it."""
    from scipy import ndimage  # scikit-image's dependency; imported here: only MACO runs need it

    radius = int(np.ceil(2.5 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (1, 2):
        maps = ndimage.convolve1d(maps, kernel, axis=axis, mode="mirror")
    return maps


def alpha_from_attribution(attributions):
    """``(N, H, W)`` float32 in [0, 1] from per-image accumulated |gradient| maps, or None when
    there are none (styles without attribution). The raw gradient is speckled pixel by pixel
    (a checkerboard from strided convolutions), so each map is blurred (sigma 1/48 of the image
    side), divided by its ``ALPHA_PERCENTILE`` percentile and clipped at 1, so a few hot pixels do
    not leave the rest near 0."""
    if not attributions or any(a is None for a in attributions):
        return None
    maps = np.asarray(attributions, "float64")
    if min(maps.shape[1:]) >= 8:
        maps = _blur(maps, max(1.0, min(maps.shape[1:]) / 48))
    scale = np.percentile(maps.reshape(len(maps), -1), ALPHA_PERCENTILE, axis=1)[:, None, None]
    return np.clip(maps / np.maximum(scale, 1e-20), 0.0, 1.0).astype("float32")
