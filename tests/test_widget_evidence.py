"""ActMaxWidget(images=...): the natural-examples scan in a worker thread, its progress and Stop,
the evidence traits per tile, the scan asked once, accentuation from the enlarged view.

The core (``actmax_widgets.evidence``) is replaced by a recording stand-in here, so these tests
check the widget's plumbing: what it asks the core and what it shows. One test at the end runs
the real core on a tiny model.
"""
from __future__ import annotations

import io
import threading
import types

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from actmax_widgets import ActMaxWidget
from actmax_widgets.evidence import image_sources
from actmax_widgets.widget import evidence_panel

TOP_K = 3


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((24, 24, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_evidence")


def photos(count=12, size=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


class FakeCore:
    """Stands in for ``actmax_widgets.evidence``: records each call and the thread it ran in;
    a scan goes through ``batches`` batches, reporting each and honouring ``should_stop``.
    ``gate`` (an Event), when set, holds the scan after its second batch until it is set."""

    image_sources = image_sources  # the widget checks images= with the scan's own reader

    def __init__(self, batches=4):
        self.scans = []
        self.accentuations = []
        self.batches = batches
        self.after_second_batch = threading.Event()
        self.gate = None

    def dataset_examples(self, model, layer, filters=None, images=None, top_k=9, image_size=None, batch_size=64,
                         *, cache=True, progress=True, on_progress=None, should_stop=None):
        self.scans.append({"layer": layer, "filters": list(filters), "images": images, "progress": progress,
                           "thread": threading.current_thread().name, "image_size": image_size})
        done = 0
        for batch in range(self.batches):
            done += 8
            on_progress(done, 8 * self.batches)
            if batch == 1:
                self.after_second_batch.set()
                if self.gate is not None:
                    self.gate.wait(30)
            if should_stop():
                break
        return fake_examples(layer, list(filters), done, complete=done == 8 * self.batches)

    def sanity_signals(self, model, result, examples):
        return types.SimpleNamespace(badges=lambda i: [
            {"name": "superstimulus", "text": f"{1.5 + i:.1f}×", "level": "ok",
             "tooltip": "The synthetic image excites this filter more than the best natural patch."},
            {"name": "specificity", "text": "#1 of 8", "level": "warn", "tooltip": "Rank among the channels."}])

    def accentuate(self, model, layer, filters, image, steps=None, strength=None, image_size=None):
        self.accentuations.append({"layer": layer, "filters": list(filters), "image": image})
        count = len(filters)
        photo = np.asarray(image, dtype=np.uint8)
        return types.SimpleNamespace(
            images=np.repeat(photo[None], count, 0), activations=np.full(count, 2.5, "float32"),
            start_activations=np.full(count, 0.5, "float32"), photo=photo,
            change_maps=np.zeros((count,) + photo.shape[:2], "float32"))


def fake_examples(layer, filters, scanned, complete):
    """Per filter f: patches filled with f·10 + k (so a patch says whose it is), activations
    f + 1, f + 0.5, f + 0.25 (descending)."""
    count = len(filters)
    patches = np.zeros((count, TOP_K, 5, 5, 3), np.uint8)
    for row, f in enumerate(filters):
        for k in range(TOP_K):
            patches[row, k] = f * 10 + k
    activations = np.array([[f + 1, f + 0.5, f + 0.25] for f in filters], "float32")
    return types.SimpleNamespace(
        layer=layer, filters=filters, patches=patches, activations=activations,
        where=np.zeros((count, TOP_K, 4), int), image_indices=np.tile(np.arange(TOP_K), (count, 1)),
        image_names=[f"images[{i}]" for i in range(TOP_K)], images_scanned=scanned, complete=complete,
        receptive_field=(5, 5))


@pytest.fixture
def core(monkeypatch):
    fake = FakeCore()
    monkeypatch.setattr(evidence_panel, "_evidence_core", lambda: fake)
    return fake


def make_widget(model, **kwargs):
    widget = ActMaxWidget(model, layer="conv_b", filters=[0, 1, 2, 3], prepare=False, precision="float32",
                          **kwargs)
    widget.controls.steps.value = 5
    widget.controls.image_size.value = 24
    return widget


def png_pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def record(grid, name):
    seen = []
    grid.observe(lambda change: seen.append(change["new"]), name)
    return seen


# -- images= ------------------------------------------------------------------------------------

@pytest.mark.parametrize("images, error, words", [
    ("no/such/folder", ValueError, ["images='no/such/folder' is not an existing folder", "folder of JPEG/PNG"]),
    (np.zeros((24, 24, 3)), ValueError, ["images has shape (24, 24, 3)", "(N, H, W, C)"]),
    (np.zeros((0, 24, 24, 3)), ValueError, ["images has shape (0, 24, 24, 3), no images"]),
    ([], ValueError, ["images=[] holds no images", "a list of images"]),
    (42, TypeError, ["images=42", "not a set of images", "tf.data.Dataset"]),
])
def test_bad_images_are_refused_at_once_naming_argument_value_and_fix(conv_model, images, error, words):
    with pytest.raises(error) as raised:
        ActMaxWidget(conv_model, images=images, prepare=False)
    for word in words:
        assert word in str(raised.value)


def test_a_file_or_an_empty_folder_as_images_says_what_to_pass(conv_model, tmp_path):
    with pytest.raises(ValueError, match="holds no JPEG or PNG files"):
        ActMaxWidget(conv_model, images=tmp_path, prepare=False)
    photo = tmp_path / "cat.png"
    Image.fromarray(photos(1)[0]).save(photo)
    with pytest.raises(ValueError, match="is a file, not a folder: pass a folder of JPEG/PNG photos"):
        ActMaxWidget(conv_model, images=str(photo), prepare=False)
    assert ActMaxWidget(conv_model, images=tmp_path, prepare=False).evidence.images == tmp_path


# -- the scan ------------------------------------------------------------------------------------

def test_run_with_images_scans_in_a_worker_thread_and_fills_each_tile_s_evidence(conv_model, core):
    images = photos()
    widget = make_widget(conv_model, images=images)
    statuses = record(widget.grid, "evidence_status")
    widget.run(blocking=True)
    (scan,) = core.scans
    assert scan["thread"] == "actmax-evidence"  # off the kernel's thread, so Stop reaches it
    assert scan["layer"] == "conv_b" and scan["filters"] == [0, 1, 2, 3] and scan["images"] is images
    assert "finding natural examples: 16 of 32 images scanned…" in statuses  # progress per batch
    assert widget.grid.evidence_state == "done"
    assert widget.grid.evidence_status == "natural examples: the top 3 of 32 images for each filter"
    evidence = widget.grid.evidence
    assert [entry["filter"] for entry in evidence] == [0, 1, 2, 3]
    for entry in evidence:
        f = entry["filter"]
        assert [int(png_pixels(png)[0, 0, 0]) for png in entry["patches"]] == [f * 10, f * 10 + 1, f * 10 + 2]
        assert entry["activations"] == [f + 1, f + 0.5, f + 0.25]
        assert entry["sources"] == ["images[0]", "images[1]", "images[2]"]
        assert [badge["name"] for badge in entry["badges"]] == ["superstimulus", "specificity"]
        assert all(badge["tooltip"] for badge in entry["badges"])
    assert widget.evidence.sanity is not None


def test_stop_during_the_scan_keeps_what_it_found(conv_model, core):
    core.gate = threading.Event()
    widget = make_widget(conv_model, images=photos())
    widget.run()
    assert core.after_second_batch.wait(60)
    widget._on_grid_message(widget.grid, {"type": "evidence-stop"}, [])  # the grid's Stop
    core.gate.set()
    widget.evidence.wait(60)
    assert widget.grid.evidence_state == "stopped"
    assert widget.grid.evidence_status == ("natural examples: stopped after 16 images — "
                                           "the strips show the best found so far")
    assert len(widget.grid.evidence) == 4 and all(len(entry["patches"]) == 3 for entry in widget.grid.evidence)
    widget.close()


def test_widget_stop_stops_the_scan_too(conv_model, core):
    core.gate = threading.Event()
    widget = make_widget(conv_model, images=photos())
    widget.run()
    assert core.after_second_batch.wait(60)
    stopper = threading.Thread(target=widget.stop)  # waits for the scan: release it meanwhile
    stopper.start()
    while not widget.evidence._stop.is_set():
        stopper.join(0.01)
    core.gate.set()
    stopper.join(60)
    assert widget.grid.evidence_state == "stopped" and widget.evidence.examples.images_scanned == 16
    widget.close()


def test_the_scan_is_asked_once_per_layer_and_filters(conv_model, core):
    widget = make_widget(conv_model, images=photos())
    widget.run(blocking=True)
    widget.run(blocking=True)  # the same tiles again: the kept scan answers
    assert len(core.scans) == 1
    assert len(widget.grid.evidence) == 4 and widget.grid.evidence[3]["patches"]
    widget.controls.layer.value = "conv_a"
    widget.run(blocking=True)
    assert [scan["layer"] for scan in core.scans] == ["conv_b", "conv_a"]


def test_a_stopped_scan_is_asked_again_by_the_next_run(conv_model, core):
    core.gate = threading.Event()
    widget = make_widget(conv_model, images=photos())
    widget.run()
    assert core.after_second_batch.wait(60)
    widget.evidence.stop(wait=False)
    core.gate.set()
    widget.evidence.wait(60)
    core.gate = None
    widget.run(blocking=True)
    assert len(core.scans) == 2 and widget.grid.evidence_state == "done"


def test_diverse_copies_each_show_their_filter_s_examples(conv_model, core):
    widget = make_widget(conv_model, images=photos())
    widget.controls.show_diverse("conv_b", 2)
    widget.run(blocking=True)
    assert core.scans[0]["filters"] == [2]
    assert [entry["filter"] for entry in widget.grid.evidence] == [2] * widget.controls.copies.value
    assert all(entry["activations"] == [3, 2.5, 2.25] for entry in widget.grid.evidence)


def test_without_images_nothing_is_scanned_until_the_toggle_asks(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    assert core.scans == [] and not any(entry["patches"] for entry in widget.grid.evidence)
    widget.grid.show_natural = True  # the grid's "Natural examples" toggle, from the browser
    widget.evidence.wait(60)
    (scan,) = core.scans
    assert scan["images"] is None  # the core's offline sample photos
    assert all(entry["patches"] for entry in widget.grid.evidence)


def test_a_new_run_clears_the_old_tiles_evidence(conv_model, core):
    widget = make_widget(conv_model, images=photos())
    widget.run(blocking=True)
    seen = record(widget.grid, "evidence")
    widget.controls.layer.value = "conv_a"
    widget.run(blocking=True)
    assert seen[0] == [{"filter": f, "layer": "conv_a", "patches": [], "activations": [], "sources": [],
                        "badges": [], "accentuation": None} for f in range(4)]  # at Run: no stale strips
    assert seen[-1][0]["patches"]


def test_a_dense_unit_s_whole_images_travel_small(conv_model):
    examples = fake_examples("logits", [0], 9, complete=True)
    examples.patches = np.full((1, TOP_K, 224, 200, 3), 90, np.uint8)  # whole photos of a dense unit
    (entry,) = evidence_panel.tile_evidence([0], examples)
    sizes = [Image.open(io.BytesIO(png)).size for png in entry["patches"]]
    assert sizes == [(114, 128)] * TOP_K  # shown at ~80 px: not 9 x 224 px per tile over the wire


def test_a_scan_of_fewer_images_than_top_k_shows_only_what_it_found():
    examples = fake_examples("conv_b", [0], 2, complete=True)
    examples.activations[0, 2] = -np.inf  # the core's empty slot: 2 images for 3 places
    examples.image_indices[0, 2] = -1
    (entry,) = evidence_panel.tile_evidence([0], examples)
    assert entry["activations"] == [1, 0.5] and len(entry["patches"]) == 2
    assert entry["sources"] == ["images[0]", "images[1]"]


# -- accentuation --------------------------------------------------------------------------------

def upload(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_accentuate_an_uploaded_photo_from_the_enlarged_view(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    photo = photos(1, size=40)[0]
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 2}, [memoryview(upload(photo))])
    widget.evidence.wait(60)
    (call,) = core.accentuations
    assert call["layer"] == "conv_b" and call["filters"] == [2]
    np.testing.assert_array_equal(call["image"], photo)  # the uploaded file, decoded
    made = widget.grid.evidence[2]["accentuation"]
    assert made["activation"] == 2.5 and made["start_activation"] == 0.5
    np.testing.assert_array_equal(png_pixels(made["image"]), photo)
    assert widget.grid.evidence[1]["accentuation"] is None
    assert widget.grid.evidence_status == "filter 2 accentuated in your photo: activation 0.50 → 2.50"


def test_accentuate_without_a_photo_says_how_to_give_one(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 2}, [])
    assert widget.grid.evidence_state == "error"
    assert "no current photo: upload one with 'Accentuate a photo…'" in widget.grid.evidence_status
    assert core.accentuations == []


def test_accentuate_uses_the_widget_s_current_photo(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    photo = photos(1, size=32, seed=3)[0]
    widget.photo = photo  # what photo mode (issue #13) keeps
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 0}, [])
    widget.evidence.wait(60)
    np.testing.assert_array_equal(core.accentuations[0]["image"], photo)
    assert widget.grid.evidence[0]["accentuation"]["filter"] == 0


def test_an_unreadable_upload_is_one_line_in_the_grid(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 0}, [memoryview(b"not an image")])
    assert widget.grid.evidence_state == "error"
    assert "photo" in widget.grid.evidence_status and "\n" not in widget.grid.evidence_status
    assert core.accentuations == []


# -- the real core -------------------------------------------------------------------------------

def test_real_scan_badges_and_accentuation_reach_the_tiles(conv_model, tmp_path, monkeypatch):
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(tmp_path))  # this test's own disk cache
    widget = make_widget(conv_model, images=photos(16, size=24, seed=1))
    result = widget.run(blocking=True)
    assert widget.grid.evidence_state == "done", widget.grid.evidence_status
    examples = widget.evidence.examples
    assert examples.layer == "conv_b" and list(examples.filters) == [0, 1, 2, 3] and examples.complete
    for row, entry in enumerate(widget.grid.evidence):
        assert len(entry["patches"]) == min(9, 16)
        assert entry["activations"] == sorted(entry["activations"], reverse=True)
        np.testing.assert_allclose(entry["activations"], examples.activations[row][:len(entry["activations"])],
                                   rtol=1e-6)
        assert {badge["name"] for badge in entry["badges"]} >= {"superstimulus", "specificity"}
        assert all(badge["tooltip"] for badge in entry["badges"])
    assert result.sanity is widget.evidence.sanity  # kept with the run's result
    widget.evidence.accentuate(1, photos(1, size=24, seed=2)[0], blocking=True)
    made = widget.grid.evidence[1]["accentuation"]
    assert made["activation"] > made["start_activation"]  # the filter was raised in the photo


# -- review fixes: threads, caches, stale state, checks -------------------------------------------

def shown_without_a_run(widget):
    """The tiles of the widget's current request on show, without running the model."""
    request = widget.controls.request()
    widget.evidence.clear(request)
    return request


def ended_run(count=4):
    return types.SimpleNamespace(images=np.zeros((count, 24, 24, 3), np.uint8))


def test_accentuate_on_a_channels_first_model_reads_its_channels_not_its_width(core):
    inputs = keras.Input((3, 20, 20))
    x = layers.Conv2D(4, 3, data_format="channels_first", name="conv_cf")(inputs)
    model = keras.Model(inputs, layers.GlobalAveragePooling2D(data_format="channels_first")(x))
    widget = ActMaxWidget(model, layer="conv_cf", filters=[0, 1], prepare=False, precision="float32")
    shown_without_a_run(widget)
    widget.evidence.accentuate(1, photos(1, size=20)[0], blocking=True)
    (call,) = core.accentuations
    assert call["image"].shape == (20, 20, 3) and call["filters"] == [1]


def test_every_evidence_update_from_the_worker_holds_the_grid_s_lock(conv_model, core):
    widget = make_widget(conv_model, images=photos())
    lock, grid, unlocked = widget._listener._lock, widget.grid, []
    hold_sync = grid.hold_sync

    def checked_hold_sync():
        if threading.current_thread().name == "actmax-evidence" and not lock.locked():
            unlocked.append(grid.evidence_state)
        return hold_sync()

    grid.hold_sync = checked_hold_sync
    widget.run(blocking=True)
    assert widget.grid.evidence_state == "done" and unlocked == []


class EndlessCore(FakeCore):
    """Scans that run until stopped; counts the scans running at once."""

    def __init__(self):
        super().__init__()
        self.active = self.most_active = 0
        self.started = threading.Semaphore(0)
        self.first_stopped_hold = threading.Event()  # never set: the first scan lingers 2 s once stopped
        self.end = threading.Event()

    def dataset_examples(self, model, layer, filters=None, images=None, top_k=9, image_size=None, batch_size=64,
                         *, cache=True, progress=True, on_progress=None, should_stop=None):
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        first = not self.scans
        self.scans.append(layer)
        self.started.release()
        while not should_stop() and not self.end.wait(0.01):
            pass
        if first:  # its stop is slow: both starters are then past their own stop of it
            self.first_stopped_hold.wait(2)
        self.active -= 1
        return fake_examples(layer, list(filters), 8, complete=False)


def test_two_scans_asked_at_once_never_run_together_and_stop_reaches_the_last(conv_model, monkeypatch):
    core = EndlessCore()
    monkeypatch.setattr(evidence_panel, "_evidence_core", lambda: core)
    widget = make_widget(conv_model)
    shown_without_a_run(widget)
    widget.evidence.scan()
    assert core.started.acquire(timeout=60)
    starters = [threading.Thread(target=widget.evidence.scan) for _ in range(2)]  # the run's end and a click
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(60)
    widget.evidence.stop(wait=True)
    try:
        assert core.most_active == 1 and core.active == 0  # the one stop ended every scan
    finally:
        core.end.set()


def test_a_stopped_scan_shows_what_it_found_and_computes_no_badges(conv_model, core):
    calls = []
    sanity = core.sanity_signals
    core.sanity_signals = lambda *args: calls.append(args) or sanity(*args)
    core.gate = threading.Event()
    widget = make_widget(conv_model)
    request = shown_without_a_run(widget)
    widget.evidence.after_run(request, ended_run())
    widget.evidence.scan()
    assert core.after_second_batch.wait(60)
    widget.evidence.stop(wait=False)
    core.gate.set()
    widget.evidence.wait(60)
    assert calls == []  # no probe of the model while a new Run waits for this stop
    assert widget.grid.evidence_state == "stopped" and all(entry["patches"] for entry in widget.grid.evidence)


def test_a_rescan_after_training_reads_the_new_weights_and_few_scans_are_kept(conv_model, core):
    widget = make_widget(conv_model, images=photos())
    widget.run(blocking=True)
    layer = conv_model.get_layer("conv_b")
    kernel, bias = layer.get_weights()
    try:
        layer.set_weights([kernel * 0.5, bias])  # "trained" meanwhile
        widget.run(blocking=True)
        assert len(core.scans) == 2  # not the examples of the weights before
    finally:
        layer.set_weights([kernel, bias])
    for spec in ("0", "1", "2", "3", "4"):
        widget.controls.filter_text.value = spec
        shown_without_a_run(widget)
        widget.evidence.scan(blocking=True)
    assert len(core.scans) == 7 and len(widget.evidence._scans) == evidence_panel.KEPT_SCANS


def test_a_new_run_resets_the_evidence_line(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 2}, [])  # no photo: an error
    assert widget.grid.evidence_state == "error"
    widget.run(blocking=True)
    assert (widget.grid.evidence_state, widget.grid.evidence_status) == ("idle", "")


def test_a_new_or_removed_photo_drops_the_accentuations_of_the_old_one(conv_model, core):
    widget = make_widget(conv_model)
    widget.run(blocking=True)
    widget.photo = photos(1, size=32, seed=3)[0]
    widget.photo_panel.wait(60)  # the photo is on show
    widget.evidence.accentuate(0, blocking=True)
    assert widget.grid.evidence[0]["accentuation"] is not None
    widget.photo = photos(1, size=32, seed=4)[0]
    assert widget.grid.evidence[0]["accentuation"] is None
    widget.photo_panel.wait(60)
    widget.evidence.accentuate(0, blocking=True)
    widget.photo = None
    assert widget.grid.evidence[0]["accentuation"] is None
    widget.photo_panel.wait(60)


def test_examples_found_while_the_run_went_get_their_badges_when_it_ends(conv_model, core):
    widget = make_widget(conv_model)
    request = shown_without_a_run(widget)
    widget.evidence.scan(blocking=True)  # asked from the enlarged view during the run
    assert not any(entry["badges"] for entry in widget.grid.evidence)
    widget.evidence.after_run(request, ended_run())
    widget.evidence.wait(60)
    assert all(entry["badges"] for entry in widget.grid.evidence)
    assert len(core.scans) == 1


def test_a_scan_still_going_when_the_run_ends_is_kept_and_gets_badges(conv_model, core):
    core.gate = threading.Event()
    widget = make_widget(conv_model, images=photos())
    request = shown_without_a_run(widget)
    widget.evidence.scan()
    assert core.after_second_batch.wait(60)
    widget.evidence.after_run(request, ended_run())  # images=: a scan after the run is wanted
    core.gate.set()
    widget.evidence.wait(60)
    assert len(core.scans) == 1 and widget.grid.evidence_state == "done"  # not stopped and restarted
    assert all(entry["badges"] for entry in widget.grid.evidence)


@pytest.mark.parametrize("bad, error", [("2", TypeError), (1.5, TypeError), (-1, ValueError)])
def test_a_bad_filter_to_accentuate_is_refused_at_once_by_name(conv_model, core, bad, error):
    widget = make_widget(conv_model)
    shown_without_a_run(widget)
    with pytest.raises(error, match="filter_index="):
        widget.evidence.accentuate(bad, photos(1)[0])
    assert core.accentuations == [] and not widget.evidence.busy


@pytest.mark.parametrize("content, words", [
    pytest.param(b"GIF89a" + bytes(64), "is not a PNG or JPEG image", id="gif"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20), "more than the 20 MB accepted", id="21MB"),
])
def test_an_accentuation_upload_gets_photo_mode_s_checks(conv_model, core, content, words):
    widget = make_widget(conv_model)
    shown_without_a_run(widget)
    widget._on_grid_message(widget.grid, {"type": "accentuate", "filter": 0}, [memoryview(content)])
    assert widget.grid.evidence_state == "error" and words in widget.grid.evidence_status
    assert core.accentuations == []
