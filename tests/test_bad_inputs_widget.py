"""Bad inputs to ``ActMaxWidget`` (the constructor, and settings changed from code before
``run()``) get the same clear errors as the core: the type, and a message naming the argument,
the bad value and the fix (issue #12). Widgets are made with ``prepare=False`` (nothing traced).
"""
import keras
import pytest
from keras import layers

from actmax_widgets import ActMaxWidget

NAN = float("nan")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(3, name="predictions")(x), name="tiny")


CONSTRUCTOR = {
    "steps zero": ({"steps": 0}, ValueError, ["steps=0", "at least 1", "steps=64"]),
    "steps negative": ({"steps": -10}, ValueError, ["steps=-10", "at least 1"]),
    "steps float": ({"steps": 2.5}, TypeError, ["steps=2.5", "integer"]),
    "steps str": ({"steps": "64"}, TypeError, ["steps='64'", "integer"]),
    "image_size too small": ({"image_size": 4}, ValueError, ["image_size=4", "8..4096"]),
    "image_size huge": ({"image_size": 100000}, ValueError, ["image_size=100000", "8..4096"]),
    "image_size float": ({"image_size": 64.0}, TypeError, ["image_size=64.0", "image_size=128"]),
    "image_size str": ({"image_size": "96"}, TypeError, ["image_size='96'", "image_size=128"]),
    "precision unknown": ({"precision": "half"}, ValueError, ["precision 'half'", "'bfloat16'"]),
    "preset unknown": ({"preset": "fast"}, ValueError, ["preset 'fast'", "'quick preview'"]),
    "preset near miss": ({"preset": "quick"}, ValueError, ["preset 'quick'", "did you mean 'quick preview'"]),
    "labels str": ({"labels": "cat"}, TypeError, ["labels='cat'", "['cat', 'dog']"]),
    "layer bool": ({"layer": True}, TypeError, ["layer=True", "layer's name"]),
    "filters bool": ({"filters": [True]}, TypeError, ["filters=True", "filters=[0, 1, 2]"]),
    "filters negative": ({"filters": [-1]}, ValueError, ["filters=-1", ">= 0"]),
    "filters str": ({"filters": "0-3"}, TypeError, ["filters='0-3'", "filters=[0, 1, 2]"]),
    "prepare str": ({"prepare": "no"}, TypeError, ["prepare='no'", "True or False"]),
}


@pytest.mark.parametrize("case", list(CONSTRUCTOR))
def test_bad_constructor_argument_is_named(model, case):
    kwargs, error_type, words = CONSTRUCTOR[case]
    with pytest.raises(error_type) as raised:
        ActMaxWidget(model, **{"prepare": False, **kwargs})
    for word in words:
        assert word in str(raised.value), f"{word!r} not in {str(raised.value)!r}"


def test_a_path_instead_of_a_model_is_named():
    with pytest.raises(TypeError, match=r"model='model.keras' is not a keras.Model: pass a model"):
        ActMaxWidget("model.keras", prepare=False)


SET_FROM_CODE = {
    # control name: (value, words); sliders keep NaN, so run() must catch it before optimizing
    "tv_weight": (NAN, ["tv_weight=nan", "finite"]),
    "act_max_weight": (NAN, ["act_max_weight=nan", "finite"]),
    "lp_norm_weight": (NAN, ["lp_norm_weight=nan", "finite"]),
    "jitter": (NAN, ["jitter=nan", "finite"]),
}


@pytest.mark.parametrize("control", list(SET_FROM_CODE))
def test_bad_setting_from_code_fails_run_with_its_name(model, control):
    value, words = SET_FROM_CODE[control]
    widget = ActMaxWidget(model, layer="conv", filters=[0], prepare=False, precision="float32")
    try:
        enabled = {"tv_weight": "tv_enabled", "lp_norm_weight": "lp_enabled"}.get(control)
        if enabled:  # the preset leaves these penalties off: a weight that is off is not used
            getattr(widget.controls, enabled).value = True
        getattr(widget.controls, control).value = value
        with pytest.raises(ValueError) as raised:
            widget.run(blocking=True)
        for word in words:
            assert word in str(raised.value)
        assert not widget.running and widget.result is None
    finally:
        widget.close()


def test_stop_before_any_run_is_harmless(model):
    widget = ActMaxWidget(model, prepare=False)
    try:
        widget.stop()
        assert not widget.running and widget.result is None
    finally:
        widget.close()
