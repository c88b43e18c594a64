"""Named styles: complete recipes for how filter images are made, picked by one word.

``visualize_filters(model, layer, style='fourier')`` (and the widget's "Style" choice) sets the
parameterization, regularizer weights, input transforms and optimizer together, because they
only work in combination: Fourier images need Adam at a small learning rate and no total
variation penalty, pixel images need keras-vis's penalties and its RMSprop.

- ``'keras-vis'``: keras-vis's classic recipe (pixels, TV and L6 penalties with weight 10, no
  transforms, its RMSprop with learning rate 1). The default when no style is given.
- ``'lucid'``: Lucid's recipe (Fourier parameterization with decay 1 and colour decorrelation,
  Lucid's standard transforms, Adam at 0.05, no penalties, ReLU warm-up for 16 steps, a ReLU6
  target maximized without its ceiling as Lucid maximizes pre-ReLU tensors).
- ``'fourier'``: the same family with the settings measured best on EfficientNet-Lite0 here
  (``bench/QUALITY.md``): decay 1.75, Adam at 0.015 halving every 48 steps, the light transform
  set (``transforms.LIGHT``), ReLU6 targets without their ceiling. Most of the final activation
  comes in the first ~100 steps (good for live previews); past ~300 steps little changes.

Each style is a dict of ``visualize_filters`` keyword arguments; ``optimizer_settings`` is a dict
for ``engine.make_optimizer``. A keyword the caller passes with a value other than its default
wins over the style's. ``visualize_activation(..., style=...)`` takes the same styles.
"""
from __future__ import annotations

import functools
import inspect

import keras

from . import arguments, transforms
from .engine import KERAS_VIS_RMSPROP
from .parameterizations import FourierImage

ADAM_LUCID = {"optimizer": "adam", "learning_rate": 0.05}

# Measured on EfficientNet-Lite0 (bench/QUALITY.md): a steeper spectrum (decay 1.75) than Lucid's
# halves the high-frequency "dots"; Adam at 0.015 halving every 48 steps with the light transforms
# reaches 90% of its final activation in ~80 steps (keras-vis's recipe: ~130) and 90% of what a
# slower 0.01 / (1 + step / 128) schedule with Lucid's transforms reaches in 512 steps by step
# ~140 instead of ~190, for a few % less final activation.
ADAM_DECAYING = {"optimizer": "adam",
                 "learning_rate": keras.optimizers.schedules.ExponentialDecay(0.015, 48, 0.5)}

# A parameterization is built fresh for each call (it remembers its run's size and range).
STYLES = {
    "keras-vis": {
        "param": "pixel", "act_max_weight": 1, "lp_norm_weight": 10, "tv_weight": 10,
        "input_modifiers": None, "optimizer_settings": KERAS_VIS_RMSPROP, "relu_warmup": 0,
        "uncap_relu6": False,
    },
    "lucid": {
        "param": functools.partial(FourierImage, decay=1.0), "act_max_weight": 1, "lp_norm_weight": 0,
        "tv_weight": 0, "input_modifiers": [transforms.LUCID], "optimizer_settings": ADAM_LUCID,
        "relu_warmup": 16, "uncap_relu6": True,
    },
    "fourier": {
        "param": functools.partial(FourierImage, decay=1.75), "act_max_weight": 1, "lp_norm_weight": 0,
        "tv_weight": 0, "input_modifiers": [transforms.LIGHT], "optimizer_settings": ADAM_DECAYING,
        "relu_warmup": 16, "uncap_relu6": True,
    },
}

DEFAULT = "keras-vis"


def names():
    """The style names, the default first."""
    return [DEFAULT] + [name for name in STYLES if name != DEFAULT]


def get(name):
    """The keyword arguments of style ``name`` (a fresh dict, with a fresh parameterization)."""
    preset = dict(STYLES[arguments.check_choice("style", name, names())])
    if isinstance(preset["param"], functools.partial):
        preset["param"] = preset["param"]()
    return preset


def _is_default(value, default):
    if value is default:
        return True
    plain = (int, float, str, bool, tuple, type(None))
    return isinstance(value, plain) and isinstance(default, plain) and type(value) is type(default) \
        and value == default


def apply(style, values, defaults):
    """``values`` (argument name -> value) with style ``style`` filled in.

    A style value replaces an argument that is missing from ``values`` or still at its default
    (``defaults``); an argument the caller changed is kept. A caller's backprop modifier also
    keeps the ReLU gradients its own: the style's ReLU warm-up is dropped then.
    """
    preset = get(style)
    resolved = dict(values)
    for name, value in preset.items():
        if name not in values or _is_default(values[name], defaults.get(name)):
            resolved[name] = value
    if resolved.get("backprop_modifier") is not None:
        resolved["relu_warmup"] = values.get("relu_warmup") or 0  # the caller's rule for ReLUs wins
    return resolved


def resolve(style, function, arguments):
    """``function``'s keyword-only ``arguments`` with style ``style`` filled in (``apply``), to
    call ``function`` with; ``style`` is set to None."""
    parameters = inspect.signature(function).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name in arguments}
    resolved = apply(style, {name: arguments[name] for name in defaults}, defaults)
    resolved["style"] = None
    return resolved
