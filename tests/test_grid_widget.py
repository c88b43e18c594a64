"""GridWidget's Python side: the traits it syncs and how they travel (no browser)."""
import io
import json

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm
from PIL import Image

from actmax_widgets.widget import grid as grid_module
from actmax_widgets.widget.grid import CSS_PATH, ESM_PATH, GridWidget


class RecordingComm(BaseComm):
    """A comm that keeps every message the widget publishes instead of sending it."""

    def __init__(self, **kwargs):
        self.messages = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append({"type": msg_type, "data": data, "buffers": list(buffers or [])})


@pytest.fixture
def comms(monkeypatch):
    created = []

    def create_comm(**kwargs):
        created.append(RecordingComm(**kwargs))
        return created[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    return created


def make_png(seed, size=48):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def grid_comm(comms):
    """The grid's own comm (a DOMWidget also opens one for its Layout)."""
    [recording] = [c for c in comms if c.messages[0]["data"]["state"].get("_model_name") == "AnyModel"]
    return recording


def updates(recording):
    return [m for m in recording.messages if m["type"] == "comm_msg" and m["data"]["method"] == "update"]


def buffers_by_path(message):
    return {tuple(path): bytes(buf) for path, buf in zip(message["data"]["buffer_paths"], message["buffers"])}


def test_bundle_is_built_and_used():
    assert ESM_PATH.is_file() and ESM_PATH.stat().st_size > 0
    assert CSS_PATH.is_file() and CSS_PATH.stat().st_size > 0
    assert "export" in ESM_PATH.read_text() and "actmax-grid" in ESM_PATH.read_text()
    assert ".actmax-grid" in CSS_PATH.read_text()
    widget = GridWidget()
    assert str(widget._esm) == ESM_PATH.read_text()
    assert str(widget._css) == CSS_PATH.read_text()


def test_set_tiles_sends_pngs_as_binary_buffers_in_one_message(comms):
    widget = GridWidget(layer_name="block1_conv1")
    recording = grid_comm(comms)
    pngs = [make_png(seed) for seed in range(3)]
    infos = [{"filter": f, "label": str(f), "activation": 1.5 * f, "dead": f == 2, "copy": None} for f in range(3)]

    widget.set_tiles(pngs, infos)

    [message] = updates(recording)
    state = message["data"]["state"]
    assert set(state) == {"tiles", "tile_info"}
    assert buffers_by_path(message) == {("tiles", i): png for i, png in enumerate(pngs)}
    assert state["tile_info"] == infos
    # Binary buffers, not base64: the JSON part stays tiny next to the images.
    assert len(json.dumps(message["data"])) < sum(map(len, pngs)) / 10


def test_initial_state_carries_tiles_as_buffers(comms):
    pngs = [make_png(seed) for seed in range(2)]
    GridWidget(tiles=pngs, tile_info=[{"filter": 0}, {"filter": 1}])
    recording = grid_comm(comms)
    opening = recording.messages[0]
    assert opening["type"] == "comm_open"
    paths = buffers_by_path(opening)
    assert paths[("tiles", 0)] == pngs[0]
    assert paths[("tiles", 1)] == pngs[1]


def test_history_is_float32_little_endian_steps_by_tiles(comms):
    widget = GridWidget()
    recording = grid_comm(comms)
    values = np.array([[0.5, 1.0, -2.0], [0.75, 1.25, -1.5]], dtype=np.float64)

    widget.set_history(values)

    assert widget.history_steps == 2
    [message] = updates(recording)
    sent = buffers_by_path(message)[("history",)]
    np.testing.assert_array_equal(np.frombuffer(sent, dtype="<f4").reshape(2, 3), values)
    assert message["data"]["state"]["history_steps"] == 2


def test_hold_sync_batches_a_snapshot(comms):
    widget = GridWidget()
    recording = grid_comm(comms)
    with widget.hold_sync():
        widget.set_tiles([make_png(0)], [{"filter": 7, "activation": 0.3}])
        widget.set_history(np.zeros((4, 1)))
        widget.state = "running"
        widget.progress = 0.2
        widget.status = "step 4/20"
    [message] = updates(recording)
    sent = set(message["data"]["state"]) | {path[0] for path in message["data"]["buffer_paths"]}
    assert {"tiles", "tile_info", "history", "history_steps", "state", "progress", "status"} <= sent


def test_tile_info_is_normalised():
    widget = GridWidget()
    widget.set_tiles(
        [make_png(0), make_png(1)],
        [{"filter": 3, "activation": float("nan")},
         {"filter": 285, "label": "Egyptian cat · #2", "activation": np.float32(2), "copy": np.int64(2)}],
    )
    assert widget.tile_info == [
        {"filter": 3, "label": "3", "activation": None, "dead": False, "copy": None},
        {"filter": 285, "label": "Egyptian cat · #2", "activation": 2.0, "dead": False, "copy": 2},
    ]
    json.dumps(widget.tile_info, allow_nan=False)


def test_validation():
    widget = GridWidget()
    with pytest.raises(ValueError, match="2 PNGs but 1"):
        widget.set_tiles([make_png(0), make_png(1)], [{}])
    with pytest.raises(ValueError, match="2-D"):
        widget.set_history(np.zeros(3))
    with pytest.raises(Exception):
        widget.state = "paused"
    widget.progress = 1.0000001
    assert widget.progress == 1.0
    widget.progress = -0.5
    assert widget.progress == 0.0


def test_defaults():
    widget = GridWidget()
    assert (widget.state, widget.tile_size, widget.columns, widget.placeholder_count) == ("idle", 112, 0, 0)
    assert widget.diverse_copies == 0  # a bare grid offers no diverse images: nothing would answer
    assert widget.tiles == [] and widget.history == b"" and widget.history_steps == 0


def test_displays_as_a_widget_view():
    widget = GridWidget()
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id


def test_missing_bundle_says_how_to_build(monkeypatch):
    monkeypatch.setattr(grid_module, "_BUNDLE_BUILT", False)
    with pytest.raises(FileNotFoundError, match=r"npm run build` in js/ or reinstall"):
        GridWidget()
