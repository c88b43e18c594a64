"""The widget's "Download GIF": the finished run's animation goes back to the browser as bytes."""
import io

import keras
import pytest
from keras import layers
from PIL import Image

from actmax_widgets import ActMaxWidget


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(3, name="out")(x), name="tiny")


def ask(widget, content):
    """Send ``content`` as the front end would and return what the kernel sends back."""
    sent = []
    widget.grid.send = lambda message, buffers=None: sent.append((message, buffers))
    widget.grid._handle_custom_msg(content, [])
    assert len(sent) == 1
    return sent[0]


def frames_in(data):
    with Image.open(io.BytesIO(data)) as image:
        return image.format, image.n_frames, image.size


def test_the_grid_and_one_tile_come_back_as_animated_gifs(conv_model):
    widget = ActMaxWidget(conv_model, layer="conv_a", filters=[1, 4, 5], prepare=False, precision="float32")
    widget.controls.steps.value = 12
    widget.run(blocking=True)
    message, buffers = ask(widget, {"type": "gif"})
    assert message == {"type": "gif", "filter": None}
    grid_format, grid_frames, grid_size = frames_in(buffers[0])
    assert grid_format == "GIF" and grid_frames > 2
    message, buffers = ask(widget, {"type": "gif", "position": 2})
    assert message == {"type": "gif", "filter": 5}
    _, tile_frames, tile_size = frames_in(buffers[0])
    assert tile_frames == grid_frames and tile_size[0] < grid_size[0]
    widget.close()


def test_before_any_run_the_button_is_told_why_not(conv_model):
    widget = ActMaxWidget(conv_model, layer="conv_a", filters=[0], prepare=False)
    message, buffers = ask(widget, {"type": "gif"})
    assert "press Run" in message["error"] and not buffers
    widget.close()


def test_an_unexpected_failure_still_answers_the_button(conv_model, monkeypatch):
    widget = ActMaxWidget(conv_model, layer="conv_a", filters=[0], prepare=False)
    widget.controls.steps.value = 3
    widget.run(blocking=True)
    monkeypatch.setattr(type(widget.result), "animation", lambda *a, **k: 1 / 0)
    message, buffers = ask(widget, {"type": "gif"})
    assert "could not be made (ZeroDivisionError" in message["error"] and not buffers
    widget.close()
