"""The widget's photo mode (issue #13): ``ActMaxWidget(model, photo=...)`` or an upload, and the
maps the grid shows for it beside each tile.

The model is built so the right answer is known: conv filter 0 fires on bright pixels, filter 1
on dark ones, and the classifier's class 0 reads filter 0, class 1 filter 1. The photo is dark
with a bright square in its top-left quarter. So filter 0's map (and class 0's Grad-CAM) must sit
on the square, filter 1's (class 1's) on the dark rest.
"""
from __future__ import annotations

import datetime
import html
import io

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from actmax_widgets import ActMaxWidget
from actmax_widgets.widget import photo_panel

SIDE = 32
LABELS = ["bright thing", "dark thing", "<b>other</b>"]


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((SIDE, SIDE, 3))
    mix = layers.Conv2D(3, 1, name="mix")  # the identity: a second conv layer to switch to
    conv = layers.Conv2D(2, 1, activation="relu", name="detect")
    dense = layers.Dense(3, activation="softmax", name="predictions")
    outputs = dense(layers.GlobalAveragePooling2D(name="pool")(conv(mix(inputs))))
    model = keras.Model(inputs, outputs, name="bright_dark")
    mix.set_weights([np.eye(3, dtype="float32")[None, None], np.zeros(3, "float32")])
    # Filter 0: the pixel's brightness (0..1); filter 1: its darkness (1 - brightness).
    conv.set_weights([np.stack([np.full(3, 1 / 765), np.full(3, -1 / 765)], -1)[None, None].astype("float32"),
                      np.array([0.0, 1.0], "float32")])
    kernel = np.zeros((2, 3), "float32")
    kernel[0, 0], kernel[1, 1] = 8.0, 8.0  # class 0 reads filter 0, class 1 filter 1, class 2 nothing
    dense.set_weights([kernel, np.zeros(3, "float32")])
    return model


def square_photo(size=64):
    """Dark, with a bright square filling the top-left quarter: uint8 (size, size, 3)."""
    photo = np.full((size, size, 3), 20, "uint8")
    photo[: size // 2, : size // 2] = 235
    return photo


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), "float32")


def heat_on_square(overlay_png):
    """How much hotter (jet: red over blue) the map is on the bright square than on the dark
    rest: positive when the heat sits on the square. The photo alone gives 0 (grey pixels have
    red = blue)."""
    image = decode(overlay_png)
    warmth = image[..., 0] - image[..., 2]
    half = image.shape[0] // 2
    square = np.zeros(image.shape[:2], bool)
    square[:half, :half] = True
    return float(warmth[square].mean() - warmth[~square].mean())


def make_widget(model, **kwargs):
    widget = ActMaxWidget(model, prepare=False, precision="float32", labels=LABELS, **kwargs)
    widget.controls.steps.value = 2
    return widget


def run(widget, layer, filters):
    widget.controls.layer.value = layer
    widget.controls.mode.value = "list"
    widget.controls.filter_text.value = ", ".join(map(str, filters))
    widget.run(blocking=True)
    widget.photo_panel.wait()
    assert "failed" not in widget.grid.photo_status, widget.grid.photo_status
    return widget.grid


@pytest.mark.parametrize("kind", ["array", "path", "pil"])
def test_photo_is_accepted_as_array_path_or_pil_image(model, tmp_path, kind):
    photo = square_photo()
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    given = {"array": photo, "path": str(path), "pil": Image.fromarray(photo)}[kind]
    widget = make_widget(model, photo=given)
    try:
        widget.photo_panel.wait()
        assert widget.photo.dtype == np.uint8 and widget.photo.shape == (64, 64, 3)
        np.testing.assert_array_equal(widget.photo, photo)
        shown = decode(widget.grid.photo)  # as the model sees it, enlarged for the screen
        assert shown.shape == (photo_panel.DISPLAY_SIDE, photo_panel.DISPLAY_SIDE, 3)
        assert shown[:10, :10].mean() > 200 and shown[-10:, -10:].mean() < 40
        # Before any Run there are no tiles to lay maps beside: the status says what comes.
        assert widget.grid.photo_views == [] and "Press Run" in widget.grid.photo_status
        # The classifier's predictions, named with the widget's labels, best first.
        names = [p["name"] for p in widget.grid.predictions]
        assert names[0] == "bright thing" or names[0] == "dark thing"
        assert sorted(names) == sorted(LABELS)
    finally:
        widget.close()


BAD_PHOTOS = {
    "channels first": (np.zeros((3, 32, 32), "uint8"), ValueError, ["photo has shape (3, 32, 32)", "np.moveaxis"]),
    "two channels": (np.zeros((32, 32, 2), "uint8"), ValueError, ["photo has shape (32, 32, 2)", "(H, W, 3)"]),
    "a number": (7, TypeError, ["photo=7", "file path"]),
    "too large": (Image.new("L", (8000, 7000)), ValueError, ["8000 × 7000", "megapixels", "resize it first"]),
}


@pytest.mark.parametrize("case", list(BAD_PHOTOS))
def test_a_bad_photo_is_refused_naming_the_argument_value_and_fix(model, case):
    photo, error_type, words = BAD_PHOTOS[case]
    with pytest.raises(error_type) as raised:
        make_widget(model, photo=photo)
    for word in words:
        assert word in str(raised.value), f"{word!r} not in {str(raised.value)!r}"


def test_a_file_that_is_not_an_image_is_refused_by_name(model, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a photo")
    with pytest.raises(ValueError, match=r"photo: 'notes.txt' is not an image Pillow can read \(PNG or JPEG\)"):
        make_widget(model, photo=path)


def upload(widget, name, content):
    """What the browser's FileUpload sends for one chosen file."""
    widget.photo_panel.upload.value = ({"name": name, "type": "", "size": len(content), "content": memoryview(content),
                                        "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_an_upload_that_is_not_png_or_jpeg_or_too_large_says_so_and_keeps_the_photo(model):
    widget = make_widget(model, photo=square_photo())
    try:
        upload(widget, "<i>notes</i>.txt", b"just some text, no image")
        message = widget.photo_panel.message.value
        assert "&lt;i&gt;notes&lt;/i&gt;.txt" in message and "<i>" not in message  # the name is text
        assert "is not a PNG or JPEG image" in message and "upload a photo saved as .png or .jpg" in message
        upload(widget, "huge.png", b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20))
        assert "'huge.png' is 21.0 MB, more than the 20 MB accepted" in html.unescape(widget.photo_panel.message.value)
        np.testing.assert_array_equal(widget.photo, square_photo())  # the photo shown stays
    finally:
        widget.close()


def test_uploading_a_png_fills_each_conv_tile_with_where_its_filter_fires(model):
    widget = make_widget(model)
    try:
        upload(widget, "square.png", png_bytes(square_photo()))
        np.testing.assert_array_equal(widget.photo, square_photo())
        assert widget.photo_panel.upload.value == ()  # ready for the next upload, even of the same file
        grid = run(widget, "detect", [0, 1])
        views = grid.photo_views
        assert [(v["filter"], v["layer"]) for v in views] == [(0, "detect"), (1, "detect")]
        assert "Where each filter of detect fires" in grid.photo_status
        # Filter 0 (brightness) is hot on the bright square, filter 1 (darkness) off it.
        assert heat_on_square(views[0]["heatmap"]) > 60
        assert heat_on_square(views[1]["heatmap"]) < -60
        assert decode(views[0]["heatmap"]).shape == (photo_panel.DISPLAY_SIDE, photo_panel.DISPLAY_SIDE, 3)
    finally:
        widget.close()


def test_a_dense_layer_gives_grad_cam_and_saliency_tiles_and_named_top_predictions(model):
    widget = make_widget(model, photo=square_photo())
    try:
        grid = run(widget, "predictions", [0, 1])
        views = {v["filter"]: v for v in grid.photo_views}
        assert sorted(views) == [0, 1] and all(v["saliency"] for v in views.values())
        assert "Grad-CAM" in grid.photo_status
        # Class 0 reads the brightness filter: its Grad-CAM is on the square; class 1's off it.
        assert heat_on_square(views[0]["heatmap"]) > 60
        assert heat_on_square(views[1]["heatmap"]) < -60
        predictions = grid.predictions
        assert [p["name"] for p in predictions][:2] == ["dark thing", "bright thing"]  # 3/4 of the photo is dark
        assert [p["index"] for p in predictions] == [1, 0, 2]
        probabilities = [p["probability"] for p in predictions]
        assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-4
        assert predictions[2]["name"] == "<b>other</b>"  # user data, sent as text (the browser escapes it)
    finally:
        widget.close()


def test_changing_layer_or_filters_and_running_refreshes_the_maps(model):
    widget = make_widget(model, photo=square_photo())
    try:
        first = run(widget, "detect", [0]).photo_views
        assert [v["filter"] for v in first] == [0]
        second = run(widget, "detect", [1]).photo_views
        assert [v["filter"] for v in second] == [1] and heat_on_square(second[0]["heatmap"]) < -60
        third = run(widget, "mix", [0, 1, 2]).photo_views
        assert [(v["filter"], v["layer"]) for v in third] == [(0, "mix"), (1, "mix"), (2, "mix")]
        assert heat_on_square(third[0]["heatmap"]) > 60  # the identity's channels: the photo itself
        widget.photo = None  # removed: the grid drops the photo and its maps
        widget.photo_panel.wait()
        assert widget.grid.photo == b"" and widget.grid.photo_views == [] and widget.grid.predictions == []
    finally:
        widget.close()


def test_a_new_photo_replaces_the_maps_for_the_same_tiles(model):
    widget = make_widget(model, photo=square_photo())
    try:
        assert heat_on_square(run(widget, "detect", [0]).photo_views[0]["heatmap"]) > 60
        widget.photo = 255 - square_photo()  # now the square is dark and the rest bright
        widget.photo_panel.wait()
        assert heat_on_square(widget.grid.photo_views[0]["heatmap"]) < -60
        assert widget.grid.photo_views[0]["fires"]
        widget.photo = np.zeros((40, 40, 3), "uint8")  # black: the brightness filter is silent on it
        widget.photo_panel.wait()
        assert widget.grid.photo_views[0]["fires"] is False
    finally:
        widget.close()


def test_a_class_layer_without_a_conv_layer_before_it_gets_saliency_and_says_why_not_grad_cam():
    inputs = keras.Input((16, 16, 3))
    outputs = layers.Dense(4, activation="softmax", name="predictions")(layers.Flatten(name="flat")(inputs))
    widget = make_widget(keras.Model(inputs, outputs, name="mlp"), photo=square_photo())
    try:
        grid = run(widget, "predictions", [0, 2])
        assert [(v["filter"], v["kind"]) for v in grid.photo_views] == [(0, "saliency"), (2, "saliency")]
        assert grid.photo_status.startswith("Saliency of each unit of predictions on your photo. No Grad-CAM: ")
        assert "no conv or pooling layer before it" in grid.photo_status
        assert grid.photo and len(grid.predictions) == 4  # the photo and the predictions stand
    finally:
        widget.close()


def test_class_maps_are_of_the_logit_whatever_the_toggle_and_follow_new_weights(model):
    """Grad-CAM of a softmax class is of its logit with "linear output" on or off (the toggle is
    about what a Run maximizes), and after set_weights the maps are those of the new weights."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    widget = make_widget(twin, photo=square_photo())
    try:
        widget.controls.linear_output.value = True
        on = run(widget, "predictions", [0, 1]).photo_views
        widget.controls.linear_output.value = False
        assert run(widget, "predictions", [0, 1]).photo_views == on  # same maps
        assert heat_on_square(on[0]["heatmap"]) > 60
        kernel, bias = twin.get_layer("predictions").get_weights()
        twin.get_layer("predictions").set_weights([kernel[::-1].copy(), bias])  # class 0 now reads darkness
        widget.controls.linear_output.value = True
        run(widget, "predictions", [0, 1])
        widget.photo = square_photo()  # a new upload of the same photo: maps computed again
        widget.photo_panel.wait()
        assert heat_on_square(widget.grid.photo_views[0]["heatmap"]) < -60
    finally:
        widget.close()


def test_a_failing_photo_task_is_reported_and_the_next_one_still_runs():
    worker = photo_panel._Latest("test-photo")
    done = []

    def fail():
        raise RuntimeError("boom")

    try:
        worker.submit(fail)
        worker.wait(10)
        worker.submit(lambda: done.append(1))
        worker.wait(10)
        assert done == [1]
    finally:
        worker.shutdown(10)


def test_failing_predictions_leave_the_photo_and_its_maps(model, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no predictions today")

    monkeypatch.setattr(photo_panel.attribution, "top_predictions", broken)
    info = photo_panel.catalogue.describe_layer(model, "detect")
    views = photo_panel.compute_views(model, info, [0], square_photo())
    assert views.photo_png and [v["filter"] for v in views.views] == [0] and views.predictions == []
    assert "no predictions today" in views.status
