"""The live thumbnail grid: an anywidget whose front-end lives in ``js/src/``.

``GridWidget`` only displays what it is given; the controls and the worker thread that runs the
optimization (``ActMaxWidget``) set its traits. Images travel as PNG bytes in binary buffers,
never as base64 text.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import anywidget
import numpy as np
import traitlets

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ESM_PATH = STATIC_DIR / "grid.js"
CSS_PATH = STATIC_DIR / "grid.css"
# Checked once, when anywidget reads the files: a bundle built later needs a kernel restart.
_BUNDLE_BUILT = ESM_PATH.is_file() and CSS_PATH.is_file()

STATES = ("idle", "preparing", "compiling", "running", "done", "stopped", "error")


class GridWidget(anywidget.AnyWidget):
    """A grid of filter visualizations that refreshes live while a run goes on.

    Each tile shows one PNG with its label; clicking a tile opens an enlarged view with the
    tile's activation history. A header shows the layer, the run's state and status line, a
    progress bar (green when done, red when stopped or failed) and a "Save grid" button.

    Set several traits at once inside ``hold_sync()`` so the browser gets one message and
    renders once::

        with grid.hold_sync():
            grid.set_tiles(pngs, infos)
            grid.set_history(history)
            grid.progress = step / steps
            grid.status = f"step {step}/{steps}"

    Traits
    ------
    tiles : list of bytes
        One PNG per tile, sent as binary buffers.
    tile_info : list of dict
        Per tile ``{"filter": int, "label": str, "activation": float | None, "dead": bool,
        "copy": int | None}``; ``label`` is the filter index as text or a class name such as
        ``"Egyptian cat"``; ``copy`` numbers the images of one filter shown several times
        (diverse images: ``"12 · #1"`` … ``"12 · #4"``), None otherwise.
        ``precomputed``: True when the image came from a built atlas (absent otherwise).
    layer_name, layer_kind : str
        Shown in the header, e.g. ``"block4a_expand_conv"`` and ``"conv 144 ch"``: always the
        layer of the tiles on show (the enlarged view names it too).
    next_layer : str
        The layer picked for the next run when it is not the tiles' layer: the tiles are then
        marked as from the previous layer and a note says to press Run. Empty otherwise.
    history : bytes
        float32 little-endian, row-major ``(history_steps, len(tiles))``: each tile's
        activation at every step so far (see ``set_history``).
    history_steps : int
        Number of rows in ``history``.
    state : str
        One of ``idle``, ``preparing`` (Run was pressed; the model is being cut and the step
        traced or awaited), ``compiling``, ``running``, ``done``, ``stopped``, ``error``.
    run_id : int
        Raised by one for each run: the front-end counts the elapsed seconds of the run from
        the moment it sees a new value, so the time ticks even while the kernel sends nothing.
    progress : float
        0..1 (values outside are clipped).
    status : str
        One line such as ``"step 40/200 · 6.1 steps/s · 26 s left · CPU"``.
    error : str
        Message shown in a red box when ``state == "error"``.
    tile_size : int
        Thumbnail size in CSS pixels (default 112).
    columns : int
        Fixed number of columns, or 0 to fill the available width.
    placeholder_count : int
        Shimmering placeholder tiles shown while preparing, compiling or running before the
        first tiles arrive, so the page does not jump when they do.
    placeholder_labels : list of str
        Captions of those placeholders (the requested filters), when known.
    diverse_copies : int
        The enlarged view of a single-filter tile offers "N diverse images" of it with N this
        value; 0 hides the offer.

    Messages
    --------
    The front-end never changes the run itself; it sends what the user asked for and whoever
    drives the grid (``ActMaxWidget``) acts on it through ``on_msg``:

    ``{"type": "diverse", "filter": int}``
        "N diverse images" was pressed in the enlarged view of a tile of ``filter``.
    ``{"type": "page", "filter": int}``
        "Back to page" was pressed in the enlarged view of a diverse copy of ``filter``.
    ``{"type": "evidence-scan"}``, ``{"type": "evidence-stop"}``
        Find the tiles' natural examples / stop that scan (keeping what it found).
    ``{"type": "accentuate", "filter": int}`` (+ the uploaded file's bytes as a buffer)
        Accentuate ``filter`` in the uploaded photo, or the widget's current one without a buffer.
    """

    _esm = ESM_PATH if _BUNDLE_BUILT else "export default {}"
    _css = CSS_PATH if _BUNDLE_BUILT else ""

    tiles = traitlets.List(traitlets.Bytes()).tag(sync=True)
    tile_info = traitlets.List(traitlets.Dict()).tag(sync=True)
    layer_name = traitlets.Unicode("").tag(sync=True)
    layer_kind = traitlets.Unicode("").tag(sync=True)
    next_layer = traitlets.Unicode("").tag(sync=True)
    history = traitlets.Bytes(b"").tag(sync=True)
    history_steps = traitlets.Int(0).tag(sync=True)
    state = traitlets.Enum(STATES, default_value="idle").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    tile_size = traitlets.Int(112).tag(sync=True)
    columns = traitlets.Int(0).tag(sync=True)
    placeholder_count = traitlets.Int(0).tag(sync=True)
    placeholder_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    diverse_copies = traitlets.Int(0).tag(sync=True)
    # Photo mode (issue #13, widget/photo_panel.py): the user's photo as the model sees it (PNG,
    # b"" without one); per distinct filter of the tiles {filter, layer, kind ("activation",
    # "grad-cam" or "saliency"), heatmap: png, fires (activation), saliency: png (grad-cam)}; the
    # classifier's top-5 {index, name, probability}; one status line.
    photo = traitlets.Bytes(b"").tag(sync=True)
    photo_views = traitlets.List(traitlets.Dict()).tag(sync=True)
    predictions = traitlets.List(traitlets.Dict()).tag(sync=True)
    photo_status = traitlets.Unicode("").tag(sync=True)
    # Evidence (issue #14, widget/evidence_panel.py): per tile {filter, patches: [png],
    # activations, sources, badges, accentuation}; the toggle showing each tile's top patch;
    # the scan's state (idle, scanning, accentuating, done, stopped, error) and its line.
    evidence = traitlets.List(traitlets.Dict()).tag(sync=True)
    show_natural = traitlets.Bool(False).tag(sync=True)
    evidence_state = traitlets.Unicode("idle").tag(sync=True)
    evidence_status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        if not _BUNDLE_BUILT:
            raise FileNotFoundError(
                f"The grid widget's front-end bundle is missing ({ESM_PATH}): "
                "run `npm run build` in js/ or reinstall actmax-widgets, then restart the kernel."
            )
        super().__init__(**kwargs)

    @traitlets.validate("progress")
    def _clip_progress(self, proposal):
        value = float(proposal["value"])
        return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0

    def set_tiles(self, pngs: Sequence[bytes], infos: Sequence[Mapping]) -> None:
        """Replace the tiles and their descriptions in one message.

        Parameters
        ----------
        pngs : sequence of bytes
            One PNG per tile.
        infos : sequence of mapping
            One ``tile_info`` entry per tile; missing keys get defaults (``filter`` = position,
            ``label`` = the filter as text), and a non-finite activation becomes ``None``
            (JSON has no NaN).
        """
        if len(pngs) != len(infos):
            raise ValueError(f"{len(pngs)} PNGs but {len(infos)} tile descriptions")
        with self.hold_sync():
            self.tile_info = [_tile_info(info, index) for index, info in enumerate(infos)]
            self.tiles = [bytes(png) for png in pngs]

    def set_history(self, values) -> None:
        """Set ``history`` and ``history_steps`` from an array of shape ``(steps, len(tiles))``."""
        array = np.asarray(values, dtype="<f4")
        if array.ndim != 2:
            raise ValueError(f"history must be 2-D (steps, tiles), got shape {array.shape}")
        with self.hold_sync():
            self.history = np.ascontiguousarray(array).tobytes()
            self.history_steps = array.shape[0]


def _tile_info(info: Mapping, index: int) -> dict:
    filter_index = int(info.get("filter", index))
    activation = info.get("activation")
    if activation is not None:
        activation = float(activation)
        if not math.isfinite(activation):
            activation = None
    label = info.get("label")
    copy = info.get("copy")
    normalised = {
        "filter": filter_index,
        "label": str(filter_index) if label is None else str(label),
        "activation": activation,
        "dead": bool(info.get("dead", False)),
        "copy": None if copy is None else int(copy),
    }
    if info.get("precomputed"):  # from a built atlas (atlas_tiles.py); absent otherwise
        normalised["precomputed"] = True
    return normalised
