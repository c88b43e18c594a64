"""ActMaxWidget without a browser: controls reflect the model, runs reach the grid, stop/error paths."""
from __future__ import annotations

import io
import re
import threading
import time

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from actmax_widgets import ActMaxWidget
from actmax_widgets.widget.presets import PRESETS


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(12, 3, padding="same", name="conv_b")(x)
    x = layers.Activation("relu", name="conv_b_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def make_widget(model, prepare=False, precision="float32", **kwargs):
    """A widget with fast settings; no background tracing unless asked (tests of it below); float32
    unless asked, so that the tests run alike on CPUs with and without AMX (``auto``)."""
    widget = ActMaxWidget(model, prepare=prepare, precision=precision, **kwargs)
    widget.controls.steps.value = 10
    widget.controls.image_size.value = 64
    # An untrained model's activations are tiny next to the preset's smoothing: let them lead.
    widget.controls.tv_enabled.value = False
    return widget


def test_layer_picker_lists_only_visualizable_layers_in_order_with_counts(conv_model):
    widget = ActMaxWidget(conv_model, prepare=False)
    labels = [label for label, _ in widget.controls.layer.options]
    assert labels == ["conv_a — conv 8 ch", "conv_b — conv 12 ch", "conv_b_relu — conv 12 ch",
                      "predictions — dense 5 units"]
    assert widget.controls.layer.value == "conv_b_relu"  # mid-depth, after a non-linearity


def test_layer_search_filters_the_picker(conv_model):
    widget = ActMaxWidget(conv_model, prepare=False)
    widget.controls.layer_search.value = "relu"
    assert [name for _, name in widget.controls.layer.options] == ["conv_b_relu"]
    widget.controls.layer_search.value = "no such layer"  # keeps the last non-empty list
    assert [name for _, name in widget.controls.layer.options] == ["conv_b_relu"]


def test_pages_cover_a_layer_in_steps_of_the_page_size(conv_model):
    widget = ActMaxWidget(conv_model, layer="conv_b", prepare=False)
    controls = widget.controls
    controls.page_size.value = 16
    assert controls.targets() == list(range(12))
    assert controls.next_page.disabled and controls.previous_page.disabled
    assert "0–11 of 12" in controls.page_label.value


def test_filter_list_and_random_sample(conv_model):
    controls = ActMaxWidget(conv_model, layer="conv_b", prepare=False).controls
    controls.mode.value = "list"
    controls.filter_text.value = "0-2, 7"
    assert controls.targets() == [0, 1, 2, 7]
    controls.filter_text.value = "3-40"
    assert "valid indices are 0..11" in controls.filter_error.value
    with pytest.raises(ValueError, match="0..11"):
        controls.request()
    controls.mode.value = "random"
    sample = controls.targets()
    assert len(sample) == 12 and sample == sorted(set(sample))


def test_presets_set_the_sliders_and_editing_marks_custom(conv_model):
    controls = ActMaxWidget(conv_model, preset="workshop quality", prepare=False).controls
    assert controls.steps.value == PRESETS["workshop quality"]["steps"]
    controls.steps.value = 30
    assert controls.preset.value == "custom"


def test_dense_softmax_layer_offers_linear_output_and_class_labels(conv_model):
    widget = ActMaxWidget(conv_model, layer="predictions", labels=["a", "b", "c", "d", "e"], prepare=False)
    request = widget.controls.request()
    assert request.linear_output is True
    assert request.labels == ("a", "b", "c", "d", "e")
    assert ActMaxWidget(conv_model, layer="conv_b", prepare=False).controls.request().linear_output is False


def test_blocking_run_puts_png_tiles_with_info_and_history_on_the_grid(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 3, 5])
    widget.run(blocking=True)
    grid = widget.grid
    assert grid.state == "done" and grid.progress == 1.0
    assert len(grid.tiles) == 3
    for png in grid.tiles:
        image = np.asarray(Image.open(io.BytesIO(png)))
        assert image.shape == (64, 64, 3) and image.std() > 1  # a real picture, not a blank
    assert [info["filter"] for info in grid.tile_info] == [0, 3, 5]
    history = np.frombuffer(grid.history, "<f4").reshape(grid.history_steps, 3)
    assert grid.history_steps == 10 and np.all(history[-1] > history[0])
    assert widget.images.shape == (3, 64, 64, 3) and widget.images.dtype == np.uint8
    assert widget.result.steps == 10
    assert "done" in grid.status and "CPU" in grid.status


def test_precision_setting_reaches_the_run_and_the_status_line(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1], precision="bfloat16")
    assert widget.controls.precision.value == "bfloat16"
    widget.run(blocking=True)
    assert widget.result.precision == "bfloat16"
    assert widget.grid.status.endswith("· bfloat16")  # reduced precision is never silent
    widget.controls.precision.value = "float32"
    widget.run(blocking=True)
    assert widget.result.precision == "float32" and "bfloat16" not in widget.grid.status


@pytest.mark.parametrize("amx", [True, False])
def test_widget_defaults_to_auto_precision(monkeypatch, amx):
    from actmax_widgets import precision

    flags = {"avx2", "fma"} | ({"amx_bf16"} if amx else set())
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(precision, "_has_gpu", lambda: False)
    inputs = keras.Input((24, 24, 3))
    net = keras.Model(inputs, layers.Conv2D(4, 3, activation="relu", name="only_conv")(inputs))
    widget = ActMaxWidget(net, filters=[0, 1], prepare=False, steps=5, image_size=64)
    assert widget.controls.precision.value == "auto"
    widget.run(blocking=True)
    expected = "bfloat16" if amx else "float32"
    assert widget.result.precision == expected
    assert widget.grid.status.endswith("· bfloat16") == amx


def test_widget_refuses_an_unknown_precision_by_name(conv_model):
    with pytest.raises(ValueError, match="Unknown precision 'float64'.*'auto'"):
        ActMaxWidget(conv_model, precision="float64", prepare=False)


def test_dense_tiles_are_labelled_with_class_names(conv_model):
    widget = make_widget(conv_model, layer="predictions", filters=[1, 4], labels=list("abcde"))
    widget.run(blocking=True)
    assert [info["label"] for info in widget.grid.tile_info] == ["b", "e"]


def test_rerun_with_same_layer_and_count_does_not_compile_again(conv_model):
    widget = make_widget(conv_model, layer="conv_a", filters=[0, 1])
    widget.run(blocking=True)
    states = []
    widget.grid.observe(lambda change: states.append(change["new"]), "state")
    widget.controls.filter_text.value = "2, 3"
    widget.run(blocking=True)
    assert "compiling" not in states and states[-1] == "done"
    assert widget.result.compile_seconds == 0.0


def test_steps_are_traced_ahead_so_the_first_run_draws_without_compiling(conv_model):
    model = keras.models.clone_model(conv_model)  # a model no other test has compiled steps for
    widget = ActMaxWidget(model, layer="conv_b", filters=[0, 1, 2], steps=10, image_size=64)
    widget.run(blocking=True)  # waits for the step being traced in the background, then reuses it
    assert widget.result.compile_seconds == 0.0 and widget.result.steps == 10
    widget.controls.layer.value = "conv_a"  # a new layer is traced as soon as it is picked
    widget._job.wait_prepared(120)
    states = []
    widget.grid.observe(lambda change: states.append(change["new"]), "state")
    widget.run(blocking=True)
    assert widget.result.compile_seconds == 0.0 and "compiling" not in states


def test_run_at_once_reuses_the_step_its_preparer_has_not_started_yet(conv_model, monkeypatch):
    from actmax_widgets.widget.job import VisualizationJob

    prepare_pending = VisualizationJob._prepare_pending

    def scheduled_late(self):  # a busy machine: the preparer thread starts after Run was pressed
        time.sleep(0.5)
        prepare_pending(self)

    monkeypatch.setattr(VisualizationJob, "_prepare_pending", scheduled_late)
    widget = ActMaxWidget(keras.models.clone_model(conv_model), layer="conv_b", filters=[0, 1],
                          steps=5, image_size=64)
    widget.run(blocking=True)
    assert widget.result.compile_seconds == 0.0


def test_tracing_ahead_leaves_numpy_s_global_generator_alone(conv_model):
    np.random.seed(11)
    expected = np.random.random()
    np.random.seed(11)
    widget = ActMaxWidget(keras.models.clone_model(conv_model), layer="conv_a", filters=[4], steps=10,
                          image_size=64)
    widget._job.wait_prepared(120)
    assert np.random.random() == expected  # an unseeded run would have drawn its seed from it


def test_stop_keeps_what_was_reached(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.controls.steps.value = 1000
    first_tiles = threading.Event()
    widget.grid.observe(lambda change: first_tiles.set() if change["new"] else None, "tiles")
    widget.run()
    assert first_tiles.wait(60), "no tiles arrived"
    assert widget.running
    clicked = time.perf_counter()
    widget.stop()
    assert not widget.running and time.perf_counter() - clicked < 5
    assert widget.grid.state == "stopped"
    assert widget.result.stopped and 0 < widget.result.steps < 1000
    assert len(widget.grid.tiles) == 2 and widget.images.shape[0] == 2
    assert widget.controls.run_button.description == "Run"


def test_run_button_toggles_run_and_stop(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0])
    widget.controls.steps.value = 1000
    widget.controls.run_button.click()
    assert widget.controls.run_button.description == "Stop"
    time.sleep(0.5)
    widget.controls.run_button.click()
    widget.wait(30)
    assert not widget.running and widget.grid.state == "stopped"


def test_errors_go_to_the_grid_and_to_a_blocking_caller(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0])
    widget.controls.grad_modifier.value = "negate"
    bad_model = widget._job.model_for
    widget._job.model_for = lambda request: (_ for _ in ()).throw(RuntimeError("model exploded"))
    with pytest.raises(RuntimeError, match="model exploded"):
        widget.run(blocking=True)
    assert widget.grid.state == "error" and "model exploded" in widget.grid.error
    assert widget.controls.run_button.description == "Run" and not widget.controls.layer.disabled
    widget._job.model_for = bad_model
    widget.controls.run_button.click()  # a click has no caller: the error shows on the grid only
    widget.wait(60)
    assert widget.grid.state == "done"


def test_save_writes_a_labelled_grid_png(conv_model, tmp_path):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1, 2, 3])
    with pytest.raises(RuntimeError, match="Run"):
        widget.save(tmp_path / "empty.png")
    widget.run(blocking=True)
    path = widget.save(tmp_path / "grid.png")
    image = np.asarray(Image.open(path))
    assert image.shape[0] > 2 * 64 and image.shape[1] > 2 * 64


def test_grid_state_travels_as_binary_buffers(conv_model):
    from ipywidgets.widgets.widget import _remove_buffers

    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.run(blocking=True)
    state, buffer_paths, buffers = _remove_buffers(widget.grid.get_state())
    assert ["tiles", 0] in buffer_paths and ["tiles", 1] in buffer_paths and ["history"] in buffer_paths
    assert all(bytes(buffer[:8]) == b"\x89PNG\r\n\x1a\n"
               for path, buffer in zip(buffer_paths, buffers) if path[0] == "tiles")


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32)


def test_diverse_mode_runs_copies_of_one_filter_that_differ(conv_model):
    widget = make_widget(conv_model, layer="conv_b")
    controls = widget.controls
    controls.mode.value = "diverse"
    controls.diverse_filter.value = 7
    assert controls.copies.value == 4
    controls.diversity.value = 10
    assert controls.diverse_box.layout.display is None and controls.page_box.layout.display == "none"
    request = controls.request()
    assert request.targets == (7, 7, 7, 7) and request.diversity == 10
    assert widget._job.options_for(request)["recipe"].diversity == 10  # the run's Recipe carries it
    assert ActMaxWidget(conv_model, prepare=False).controls.request().diversity == 0  # page mode: no penalty

    widget.run(blocking=True)
    grid = widget.grid
    assert [info["label"] for info in grid.tile_info] == ["7 · #1", "7 · #2", "7 · #3", "7 · #4"]
    assert [(info["filter"], info["copy"]) for info in grid.tile_info] == [(7, 1), (7, 2), (7, 3), (7, 4)]
    images = [pixels(png) for png in grid.tiles]
    differences = [np.abs(images[i] - images[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert min(differences) > 5, differences  # distinct pictures, not one image four times
    assert "4 diverse copies" in grid.status
    assert "Diversity Loss" in widget.result.term_history  # the penalty really ran


def test_diverse_filter_out_of_range_names_the_layer_and_its_size(conv_model):
    widget = make_widget(conv_model, layer="conv_b")
    controls = widget.controls
    controls.diverse_filter.value = 12
    assert controls.filter_error.value == ""  # only checked in diverse mode
    controls.mode.value = "diverse"
    assert "layer &#x27;conv_b&#x27; has 12 filters (0–11)" in controls.filter_error.value
    with pytest.raises(ValueError, match="no filter 12: layer 'conv_b' has 12 filters"):
        widget.run(blocking=True)
    controls.layer.value = "predictions"
    assert "has 5 units" in controls.filter_error.value
    controls.diverse_filter.value = 3
    assert controls.filter_error.value == ""


def test_dense_diverse_copies_keep_the_class_name(conv_model):
    widget = make_widget(conv_model, layer="predictions", labels=list("abcde"))
    widget.controls.show_diverse("predictions", 2)
    widget.controls.copies.value = 2
    widget.run(blocking=True)
    assert [info["label"] for info in widget.grid.tile_info] == ["c · #1", "c · #2"]


def grid_message(widget, content):
    """What the front-end's model.send(content) delivers to the kernel."""
    widget.grid._handle_custom_msg(content, [])


def test_diverse_message_from_the_enlarged_tile_switches_mode_and_runs(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 5])
    widget.run(blocking=True)
    assert widget.grid.diverse_copies == 4
    widget.controls.copies.value = 3
    assert widget.grid.diverse_copies == 3  # the button's count follows the control
    widget.controls.layer_search.value = "conv_a"  # the picker moved on since the run
    widget.controls.layer.value = "conv_a"

    grid_message(widget, {"type": "diverse", "filter": 5})
    widget.wait(60)
    controls = widget.controls
    assert controls.layer.value == "conv_b"  # the tiles' layer, not the picker's
    assert (controls.mode.value, controls.diverse_filter.value) == ("diverse", 5)
    assert widget.grid.state == "done"
    assert [info["label"] for info in widget.grid.tile_info] == ["5 · #1", "5 · #2", "5 · #3"]
    assert widget.result.targets == [5, 5, 5]

    grid_message(widget, {"type": "page", "filter": 5})
    widget.wait(60)
    assert controls.mode.value == "page" and controls.targets() == list(range(12))
    assert [info["copy"] for info in widget.grid.tile_info] == [None] * 12


def test_diverse_message_stops_a_run_in_progress_and_ignores_junk(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.controls.steps.value = 1000
    grid_message(widget, {"type": "diverse", "filter": "1"})
    grid_message(widget, {"type": "explode", "filter": 1})
    assert not widget.running and widget.grid.state == "idle"
    widget.run()
    grid_message(widget, {"type": "diverse", "filter": 1})
    assert widget.running and widget.controls.mode.value == "diverse"
    deadline = time.perf_counter() + 60
    while len(widget.grid.tiles) != 4 and time.perf_counter() < deadline:
        time.sleep(0.05)
    widget.stop()
    assert widget.grid.state == "stopped" and len(widget.grid.tiles) == 4  # Stop keeps the copies
    assert [info["label"] for info in widget.grid.tile_info][0] == "1 · #1"


def test_presets_keep_diverse_mode(conv_model):
    controls = ActMaxWidget(conv_model, layer="conv_b", prepare=False).controls
    controls.show_diverse("conv_b", 3)
    controls.preset.value = "workshop quality"
    request = controls.request()
    assert request.targets == (3, 3, 3, 3) and request.diversity == 3
    assert request.steps == PRESETS["workshop quality"]["steps"]


# -- never silent, never stale (issue #18), and the widget's lifecycle (#12) -----------------


def wait_for_tiles(widget, count, timeout=60):
    deadline = time.perf_counter() + timeout
    while len(widget.grid.tiles) != count and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert len(widget.grid.tiles) == count, f"{len(widget.grid.tiles)} tiles, expected {count}"


def test_run_says_at_once_that_it_prepares_and_counts_time_from_the_click(conv_model, monkeypatch):
    from actmax_widgets.widget import job

    release = threading.Event()
    real = job.visualize_filters

    def slow_to_prepare(*args, **kwargs):  # cutting a big model and tracing its step take seconds
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "visualize_filters", slow_to_prepare)
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.run(blocking=True)
    assert len(widget.grid.tiles) == 2
    widget.controls.show_diverse("conv_b", 3)
    widget.controls.copies.value = 3
    widget.run()
    grid = widget.grid
    try:
        # The old tiles are another request's: gone, with a captioned placeholder per new tile.
        assert (grid.state, grid.tiles, grid.placeholder_count) == ("preparing", [], 3)
        assert grid.placeholder_labels == ["3 · #1", "3 · #2", "3 · #3"]
        assert grid.status == "preparing the model for layer conv_b…"
        assert widget.images is None  # nothing of this run yet
        time.sleep(0.5)
    finally:
        release.set()
    widget.wait(60)
    total, preparing = (float(x) for x in re.search(r"in ([\d.]+) s \(([\d.]+) s of it preparing the model\)",
                                                    grid.status).groups())
    assert 0.5 <= preparing <= total  # the half second held before the run started is counted
    assert grid.state == "done" and len(grid.tiles) == 3


def test_a_new_layer_in_the_picker_never_relabels_the_tiles_of_the_old_one(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1, 2])
    widget.run(blocking=True)
    grid = widget.grid
    widget.controls.layer_search.value = "conv_a"  # the search picks its first match
    assert widget.controls.layer.value == "conv_a"
    assert (grid.layer_name, grid.layer_kind, grid.next_layer) == ("conv_b", "conv 12 ch", "conv_a")
    assert [info["filter"] for info in grid.tile_info] == [0, 1, 2] and grid.state == "done"
    widget.controls.layer_search.value = ""
    widget.controls.layer.value = "conv_b"  # back to the tiles' layer: nothing is stale
    assert (grid.layer_name, grid.next_layer) == ("conv_b", "")
    widget.controls.layer.value = "conv_a"
    widget.run(blocking=True)
    assert (grid.layer_name, grid.layer_kind, grid.next_layer) == ("conv_a", "conv 8 ch", "")


def test_picking_a_layer_from_code_while_running_stops_the_run_and_keeps_its_name(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.controls.steps.value = 1000
    widget.run()
    wait_for_tiles(widget, 2)
    widget.controls.layer.value = "conv_a"
    assert not widget.running and widget.result.stopped
    grid = widget.grid
    assert (grid.state, grid.layer_name, grid.next_layer) == ("stopped", "conv_b", "conv_a")
    assert len(grid.tiles) == 2 and widget.controls.run_button.description == "Run"


def test_run_from_code_while_the_widget_runs_stops_that_run_and_does_what_it_asks(conv_model):
    widget = make_widget(conv_model, layer="conv_b", filters=[0, 1])
    widget.controls.steps.value = 1000
    widget.controls.run_button.click()  # a run started in the widget
    wait_for_tiles(widget, 2)
    widget.controls.steps.value = 5
    widget.controls.filter_text.value = "4-6"
    result = widget.run(blocking=True)  # the next cell
    assert result is widget.result and not result.stopped and result.steps == 5
    assert result.targets == [4, 5, 6] and result.layer_name == "conv_b"
    assert widget.images.shape[0] == 3 and widget.grid.state == "done"
    widget.controls.steps.value = 1000
    widget.run()
    wait_for_tiles(widget, 3)
    widget.run()  # run() too: the run in progress is stopped, a new one starts
    assert widget.running
    widget.stop()
    widget.stop()  # nothing to stop: nothing happens
    assert not widget.running and widget.grid.state == "stopped"


def test_stop_while_the_step_is_traced_ahead_ends_the_run_at_once(conv_model, monkeypatch):
    from actmax_widgets.widget.job import VisualizationJob

    prepare_pending = VisualizationJob._prepare_pending
    tracing = threading.Event()

    def long_trace(self):
        tracing.set()
        time.sleep(3)  # a deep layer's step being traced in the background
        prepare_pending(self)

    monkeypatch.setattr(VisualizationJob, "_prepare_pending", long_trace)
    widget = ActMaxWidget(keras.models.clone_model(conv_model), layer="conv_b", filters=[0, 1], steps=5,
                          image_size=64, precision="float32")
    assert tracing.wait(10)
    widget.run()
    assert widget.grid.state == "preparing"
    widget.stop()
    assert not widget.running and widget.grid.state == "stopped"
    assert widget.grid.status.startswith("stopped while preparing the model")
    assert widget.controls.run_button.description == "Run" and not widget.controls.layer.disabled
    widget.close()


def test_close_stops_the_run_and_ends_the_widget_s_threads(conv_model):
    widget = ActMaxWidget(keras.models.clone_model(conv_model), layer="conv_b", filters=[0, 1], steps=1000,
                          image_size=64, precision="float32")  # traces ahead on its own thread
    job = widget._job
    widget.run()
    wait_for_tiles(widget, 2)
    widget.close()
    assert not widget.running and not job._thread.is_alive() and job._preparer is None
    assert widget.grid.comm is None and widget.controls.layer.comm is None  # the views are closed
    widget.controls.layer.value = "conv_a"  # nothing is traced ahead any more
    assert job._preparer is None
    with pytest.raises(RuntimeError, match="closed: create a new ActMaxWidget"):
        widget.run()


def test_opening_state_shows_the_preset_and_the_whole_filter_list(conv_model):
    widget = ActMaxWidget(conv_model, layer="conv_b", filters=list(range(12)), prepare=False)
    assert widget.controls.preset.value == "quick preview"
    assert widget.controls.filter_text.value == "0-11"  # fits its box, unlike "0, 1, 2, …, 11"
    assert ActMaxWidget(conv_model, filters=[0, 1, 2, 5, 7, 8], prepare=False).controls.filter_text.value == "0-2, 5, 7-8"
    steps = PRESETS["quick preview"]["steps"]
    assert ActMaxWidget(conv_model, steps=steps, prepare=False).controls.preset.value == "quick preview"
    assert ActMaxWidget(conv_model, steps=steps + 1, prepare=False).controls.preset.value == "custom"


def test_a_log_slider_snapping_a_preset_value_keeps_the_preset(conv_model):
    """Shown in a browser, the TV weight slider (a log slider, steps of 10^0.1) snaps the
    presets' 0.3 to 10^-0.5 = 0.316 and sends it back: the widget then opened as "custom"."""
    controls = ActMaxWidget(conv_model, prepare=False).controls
    assert controls.preset.value == "quick preview"
    controls.tv_weight.value = 10 ** -0.5  # what the front-end sends on display
    assert controls.preset.value == "quick preview"
    controls.tv_weight.value = 1.0  # a real move of the slider
    assert controls.preset.value == "custom"


def test_steps_beyond_the_slider_are_run_as_asked_and_a_new_run_forgets_the_old_result(conv_model):
    widget = ActMaxWidget(conv_model, steps=1500, prepare=False, precision="float32")
    assert widget.controls.steps.value == 1500  # the slider clamped it to 1000 before
    widget.controls.steps.value = 2
    first = widget.run(blocking=True)
    assert widget.result is first
    widget._job.start(widget.controls.request())  # a run in the background: no result yet
    assert widget.result is None or widget.result is not first
    widget.wait()
    assert widget.result is not first and widget.result.steps == 2
    widget.close()
