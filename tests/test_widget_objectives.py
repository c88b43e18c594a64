"""ActMaxWidget(model, objectives=[...]) without a browser: one tile per objective, labelled by it,
computed by Run; the layer and filter pickers are off."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from actmax_widgets import ActMaxWidget, objectives as obj


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(12, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_objectives")


OBJECTIVES = [obj.channel("conv_b", 3), obj.neuron("conv_a", 1, x=2, y=6),
              obj.channel("conv_b", 0) - 0.5 * obj.channel("conv_a", 4)]


def test_run_computes_one_tile_per_objective_labelled_by_it(conv_model):
    widget = ActMaxWidget(conv_model, objectives=OBJECTIVES, prepare=False, precision="float32")
    widget.controls.steps.value = 5
    widget.controls.image_size.value = 32
    result = widget.run(blocking=True)
    labels = [str(o) for o in OBJECTIVES]
    assert result.labels == labels
    assert [info["label"] for info in widget.grid.tile_info] == labels
    assert widget.images.shape == (3, 32, 32, 3)
    assert widget.grid.state == "done" and "3 objectives" in widget.grid.status
    assert widget.grid.layer_name == "objectives"
    assert not np.array_equal(widget.images[0], widget.images[1])


def test_the_layer_and_filter_pickers_are_off_and_stay_off(conv_model):
    widget = ActMaxWidget(conv_model, objectives=OBJECTIVES[:1], prepare=False, precision="float32")
    controls = widget.controls
    assert controls.layer.disabled and controls.filter_text.disabled and controls.mode.disabled
    assert not controls.steps.disabled and not controls.style.disabled
    controls.steps.value = 2
    controls.image_size.value = 32
    widget.run(blocking=True)
    assert controls.layer.disabled and controls.filter_text.disabled  # not switched back on after the run
    assert not controls.steps.disabled


def test_bad_objectives_fail_in_the_constructor(conv_model):
    with pytest.raises(TypeError, match="objectives="):
        ActMaxWidget(conv_model, objectives=obj.channel("conv_b", 0), prepare=False)
    with pytest.raises(TypeError, match=r"objectives\[1\]"):
        ActMaxWidget(conv_model, objectives=[obj.channel("conv_b", 0), "conv_b:1"], prepare=False)
