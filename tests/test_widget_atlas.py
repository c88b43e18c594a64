"""ActMaxWidget(model, atlas=DIR): a built atlas's tiles at once, badged, and only the rest computed."""
from __future__ import annotations

import dataclasses
import io
import json
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from actmax_widgets import ActMaxWidget
from actmax_widgets.atlas import build
from actmax_widgets.atlas.reader import open_atlas
from actmax_widgets.widget import atlas_tiles
from atlas_store import write_store
from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels


def _model():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "conv_net"))


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def full_atlas(model, tmp_path_factory):
    """conv1's 8 filters, in two chunks of 4, built by the real build."""
    out = tmp_path_factory.mktemp("atlas") / "conv_net"
    build(model, out, layers=["conv1"], steps=4, image_size=SIZE, filters_per_chunk=4, progress=False, variants=0)
    return out


@pytest.fixture
def half_atlas(full_atlas, tmp_path):
    """The same atlas as a build interrupted after its first chunk: filters 0-3 only."""
    out = tmp_path / "half"
    shutil.copytree(full_atlas, out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["chunks"]["conv1:4-8"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture
def computed(monkeypatch):
    """Records the targets of every visualize_filters call the widget's runs make."""
    calls = []
    real = atlas_tiles.visualize_filters

    def spy(model, layer, targets, **options):
        calls.append((layer, list(targets)))
        return real(model, layer, targets, **options)

    monkeypatch.setattr(atlas_tiles, "visualize_filters", spy)
    return calls


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def widget_for(model, atlas, filters):
    widget = ActMaxWidget(model, layer="conv1", filters=filters, atlas=atlas, prepare=False, precision="float32")
    widget.controls.steps.value = 4
    return widget


def test_the_atlas_tiles_show_at_once_marked_precomputed_with_nothing_computed(model, full_atlas, computed):
    widget = widget_for(model, full_atlas, [0, 1, 2, 3])
    atlas = open_atlas(full_atlas)
    grid = widget.grid
    assert [info["filter"] for info in grid.tile_info] == [0, 1, 2, 3]
    assert all(info["precomputed"] for info in grid.tile_info)
    for png, info in zip(grid.tiles, grid.tile_info):
        assert np.array_equal(pixels(png), atlas.image("conv1", info["filter"]))
        assert info["activation"] == pytest.approx(atlas.activation("conv1", info["filter"]))
    assert grid.state == "done" and "4 precomputed tiles from the atlas" in grid.status
    assert grid.layer_name == "conv1" and computed == []
    # The next page is in the atlas too: shown at once when picked.
    widget.controls.filter_text.value = "4-7"
    widget.controls.mode.value = "list"
    assert [info["filter"] for info in grid.tile_info] == [4, 5, 6, 7] and computed == []
    widget.close()


def test_run_computes_only_the_filters_the_atlas_lacks(model, half_atlas, computed):
    widget = widget_for(model, half_atlas, list(range(8)))
    grid = widget.grid
    assert [info["filter"] for info in grid.tile_info] == [0, 1, 2, 3]
    assert grid.state == "idle" and "press Run to compute the other 4" in grid.status
    seen_before_computing = []
    real_spy = atlas_tiles.visualize_filters

    def watch(model_, layer, targets, **options):  # what the grid shows when computing starts
        seen_before_computing.append([(i["filter"], i.get("precomputed")) for i in grid.tile_info])
        return real_spy(model_, layer, targets, **options)

    atlas_tiles.visualize_filters = watch
    try:
        result = widget.run(blocking=True)
    finally:
        atlas_tiles.visualize_filters = real_spy
    assert computed == [("conv1", [4, 5, 6, 7])]
    assert seen_before_computing == [[(f, True) for f in range(4)]]  # the atlas's tiles came first
    atlas = open_atlas(half_atlas)
    assert result.targets == list(range(8)) and result.images.shape == (8, SIZE, SIZE, 3)
    for f in range(4):
        assert np.array_equal(result.images[f], atlas.image("conv1", f))
    assert [(i["filter"], i.get("precomputed", False)) for i in grid.tile_info] == [
        (f, f < 4) for f in range(8)]
    assert grid.state == "done" and "4 of 8 tiles from the atlas" in grid.status
    assert np.isfinite(result.final_activations).all()
    widget.close()


def test_a_run_the_atlas_holds_entirely_computes_nothing(model, full_atlas, computed):
    widget = widget_for(model, full_atlas, [2, 5])
    result = widget.run(blocking=True)
    assert computed == [] and result.targets == [2, 5]
    atlas = open_atlas(full_atlas)
    assert np.array_equal(result.images[1], atlas.image("conv1", 5))
    assert result.final_activations[1] == pytest.approx(atlas.activation("conv1", 5), rel=1e-4)
    assert widget.images.shape == (2, SIZE, SIZE, 3)
    assert "2 of 2 tiles from the atlas" in widget.grid.status
    widget.close()


def test_layers_and_diverse_copies_the_atlas_lacks_are_computed_as_before(model, full_atlas, computed):
    widget = widget_for(model, full_atlas, [0, 1])
    widget.controls.layer.value = "conv2"  # not in the atlas: the grid is not touched by it
    assert widget.grid.layer_name == "conv1"
    widget.controls.filter_text.value = "0-1"
    widget.controls.mode.value = "list"
    widget.run(blocking=True)
    assert computed == [("conv2", [0, 1])]
    assert not any(info.get("precomputed") for info in widget.grid.tile_info)
    widget.controls.show_diverse("conv1", 3)  # copies of one filter: the atlas has one image
    widget.run(blocking=True)
    assert computed[-1][1] == [3, 3, 3, 3]
    widget.close()


def test_an_atlas_of_another_model_is_refused_naming_the_argument(full_atlas, tmp_path):
    keras.utils.set_random_seed(1)
    other = functional((SIZE, SIZE, 3), [keras.layers.Conv2D(5, 3, name="conv1")], "other_net")
    with pytest.raises(ValueError, match=r"atlas=.*conv_net.*does not belong to model 'other_net'.*"
                                         r"5 in the model.*atlas\.build"):
        ActMaxWidget(other, atlas=full_atlas, prepare=False)
    retrained = zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "conv_net"))  # seed 1
    with pytest.raises(ValueError, match="other weights"):
        ActMaxWidget(retrained, atlas=full_atlas, prepare=False)
    with pytest.raises(FileNotFoundError, match=r"atlas=.*not a built atlas"):
        ActMaxWidget(_model(), atlas=tmp_path, prepare=False)


def test_tracing_ahead_traces_only_for_the_tiles_the_atlas_lacks(model, half_atlas, computed):
    widget = ActMaxWidget(model, layer="conv1", filters=list(range(8)), atlas=half_atlas, prepare=True,
                          precision="float32", steps=4)  # the atlas's steps: Run would use its tiles
    widget._job.wait_prepared()
    assert computed and all(call == ("conv1", [4, 5, 6, 7]) for call in computed)
    widget.close()


def test_without_a_layer_the_widget_starts_on_one_the_atlas_holds(model, tmp_path):
    assert ActMaxWidget(model, prepare=False).controls.layer.value == "conv1"  # the usual default
    write_store(tmp_path, [("conv2", "conv2d", 8, list(range(8)))], size=SIZE)  # an atlas of conv2 only
    widget = ActMaxWidget(model, atlas=tmp_path, prepare=False)
    assert widget.controls.layer.value == "conv2" and widget.grid.layer_name == "conv2"
    assert len(widget.grid.tiles) == 8 and all(info["precomputed"] for info in widget.grid.tile_info)
    assert ActMaxWidget(model, layer="conv1", atlas=tmp_path, prepare=False).controls.layer.value == "conv1"
    widget.close()


def test_stopping_part_way_keeps_the_atlas_tiles_and_the_computed_ones_reached(model, half_atlas, computed):
    """More missing tiles than one batch and Stop in the first: the finished batch and the
    atlas's tiles stay, the tiles never reached are left out (it raised IndexError)."""
    widget = widget_for(model, half_atlas, list(range(8)))
    ask = widget.controls.request
    widget.controls.request = lambda: dataclasses.replace(ask(), batch_size=2)  # 4 missing: 2 batches
    show = widget._listener.on_snapshot

    def stop_once_computing(snapshot):
        show(snapshot)
        if snapshot.step > 0:
            widget.stop(wait=False)

    widget._listener.on_snapshot = stop_once_computing
    result = widget.run(blocking=True)
    assert computed == [("conv1", [4, 5, 6, 7])]
    assert result.stopped and result.targets == [0, 1, 2, 3, 4, 5] and result.images.shape == (6, SIZE, SIZE, 3)
    assert result.activation_history.shape[1] == 6 and len(result.dead) == len(result.frames) == 6
    assert widget.result is result and widget.images.shape == (6, SIZE, SIZE, 3)
    atlas = open_atlas(half_atlas)
    assert all(np.array_equal(result.images[f], atlas.image("conv1", f)) for f in range(4))
    grid = widget.grid
    assert [(i["filter"], i.get("precomputed", False)) for i in grid.tile_info] == [(f, f < 4) for f in range(6)]
    assert grid.state == "stopped" and "4 of 6 tiles from the atlas" in grid.status
    widget.close()


def test_showing_atlas_tiles_holds_the_lock_the_run_and_photo_updates_take(model, full_atlas):
    widget = widget_for(model, full_atlas, [0, 1])
    grid, held_while_set = widget.grid, []
    set_tiles = grid.set_tiles
    grid.set_tiles = lambda *a: (held_while_set.append(widget._listener._lock.locked()), set_tiles(*a))
    widget.controls.filter_text.value = "2-3"
    widget.controls.mode.value = "list"
    assert held_while_set and all(held_while_set)
    assert [info["filter"] for info in grid.tile_info] == [2, 3]
    widget.close()


def test_other_settings_than_the_atlas_are_said_and_computed(model, full_atlas, computed):
    widget = widget_for(model, full_atlas, [2, 5])
    assert widget.grid.state == "done" and "other settings" not in widget.grid.status
    widget.controls.steps.value = 5  # the atlas was built with 4 steps
    assert "other settings than yours (steps 5 (atlas: 4))" in widget.grid.status
    assert widget.grid.state == "idle"
    result = widget.run(blocking=True)
    assert computed == [("conv1", [2, 5])] and result.steps == 5
    assert not any(info.get("precomputed") for info in widget.grid.tile_info)
    assert "atlas not used, made with other settings: steps 5 (atlas: 4)" in widget.grid.status
    widget.controls.steps.value = 4
    widget.controls.style.value = "keras-vis"
    widget.run(blocking=True)
    assert computed[-1] == ("conv1", [2, 5]) and "style keras-vis (atlas: fourier)" in widget.grid.status
    widget.close()


def test_shown_atlas_tiles_are_the_widgets_result_evidence_and_photo_request(model, full_atlas, computed):
    widget = widget_for(model, full_atlas, [0, 1])
    widget.controls.layer.value = "conv2"  # not in the atlas: computed
    widget.controls.filter_text.value = "0-1"
    widget.controls.mode.value = "list"
    widget.run(blocking=True)
    assert widget.result.layer_name == "conv2"
    cleared, followed = [], []
    clear, follow = widget.evidence.clear, widget.photo_panel.follow
    widget.evidence.clear = lambda request: (cleared.append(request), clear(request))
    widget.photo_panel.follow = lambda request: (followed.append(request), follow(request))
    widget.controls.layer.value = "conv1"  # the atlas's tiles 0-1 show at once
    result = widget.result
    assert result.layer_name == "conv1" and result.targets == [0, 1] and not result.stopped
    atlas = open_atlas(full_atlas)
    assert np.array_equal(result.images[1], atlas.image("conv1", 1)) and widget.images is result.images
    assert [(r.layer, r.targets) for r in cleared] == [("conv1", (0, 1))]
    assert [(r.layer, r.targets) for r in followed] == [("conv1", (0, 1))]
    assert computed == [("conv2", [0, 1])]
    widget.close()


def test_the_widget_starts_on_the_atlas_settings_so_run_computes_nothing(model, full_atlas, computed):
    widget = ActMaxWidget(model, layer="conv1", filters=[0, 1, 2, 3], atlas=full_atlas, prepare=False,
                          precision="float32")  # no setting touched: the atlas was made with 4 steps
    assert widget.controls.steps.value == 4 and widget.controls.image_size.value == SIZE
    widget.run(blocking=True)
    assert computed == [] and "4 of 4 tiles from the atlas" in widget.grid.status
    widget.close()


def test_another_tv_weight_than_the_atlas_style_computes_and_says_so(model, full_atlas, computed):
    """The atlas was built with fourier's own recipe (TV weight 0): a run with a TV weight makes
    other images, so it computes them and says why, instead of showing the atlas's as its own."""
    widget = widget_for(model, full_atlas, [2, 5])
    assert widget.grid.state == "done" and "other settings" not in widget.grid.status
    widget.controls.tv_weight.value = 1.0
    widget.controls.tv_enabled.value = True
    assert "TV weight 1.0 (atlas: 0.0)" in widget.grid.status and widget.grid.state == "idle"
    result = widget.run(blocking=True)
    assert computed == [("conv1", [2, 5])] and result.targets == [2, 5]
    assert not any(info.get("precomputed") for info in widget.grid.tile_info)
    assert "atlas not used, made with other settings: TV weight 1.0 (atlas: 0.0)" in widget.grid.status
    widget.close()


def test_tracing_ahead_judges_the_request_it_is_given_not_the_controls(model, half_atlas, computed):
    """The preparing thread gets its request from the job: it never reads the controls (widget
    state, the UI thread's; a filter list being typed raises there)."""
    widget = ActMaxWidget(model, layer="conv1", filters=list(range(8)), atlas=half_atlas, prepare=False,
                          precision="float32", steps=4)
    request = widget.controls.request()

    def typing():
        raise ValueError("filter list being typed")

    widget.controls.request = typing
    widget._job.prepare(request)
    widget._job.wait_prepared()
    assert computed == [("conv1", [4, 5, 6, 7])]
    widget.close()
