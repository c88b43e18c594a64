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
- ``'maco'``: MACO (Fel et al., 2023), for deep networks: only the Fourier phase is optimized, the
  magnitude spectrum stays that of natural photos (``maco.MacoImage``); each step the model sees
  four random whole-image crops (a zoom of up to ~10%) plus noise and the gradient is their mean
  (``maco.maco_crops``), Adam at 0.2 halving every 96 steps. Results are model-sized, and their
  ``alpha`` says where the feature is. At the deepest layers measured it beats fourier's
  activation (``bench/QUALITY.md``); four crops make a run 2-4 times fourier's cost.
- ``MACO_CANVAS`` (a recipe, not a style name): MACO as the paper runs it, on a canvas 1.5 times
  the model's input side seen through random crops shrinking from the whole canvas to model
  scale over 64 steps (``maco.MacoImage(canvas_scale=1.5)`` with
  ``maco.maco_crops(canvas_scale=1.5)``, four crops per step); the result is the canvas (1.5
  times the input size), more detailed, but below fourier's activation at every depth measured.

Each style is a ``Recipe`` (``KERAS_VIS``, ``LUCID``, ``FOURIER``, ``MACO``; ``get(name)`` by name):
``visualize_filters(..., recipe=styles.FOURIER.replace(tv_weight=1))`` runs a changed copy.
``visualize_activation(..., style=...)`` takes the same styles by name.
"""
from __future__ import annotations

import functools
import inspect

import keras

from . import arguments, legacy_arguments, maco, transforms
from .parameterizations import FourierImage
from .recipe import Recipe

ADAM_LUCID = {"optimizer": "adam", "learning_rate": 0.05}

# Measured on EfficientNet-Lite0 (bench/QUALITY.md): a steeper spectrum (decay 1.75) than Lucid's
# halves the high-frequency "dots"; Adam at 0.015 halving every 48 steps with the light transforms
# reaches 90% of its final activation in ~80 steps (keras-vis's recipe: ~130) and 90% of what a
# slower 0.01 / (1 + step / 128) schedule with Lucid's transforms reaches in 512 steps by step
# ~140 instead of ~190, for a few % less final activation.
ADAM_DECAYING = {"optimizer": "adam",
                 "learning_rate": keras.optimizers.schedules.ExponentialDecay(0.015, 48, 0.5)}

# The parameterizations are factories: each run gets a fresh one (it remembers its run's size
# and range).
KERAS_VIS = Recipe()
LUCID = Recipe(param=functools.partial(FourierImage, decay=1.0), lp_norm_weight=0, tv_weight=0,
               transforms=(transforms.LUCID,), optimizer=ADAM_LUCID, relu_warmup=16, uncap_relu6=True)
FOURIER = Recipe(param=functools.partial(FourierImage, decay=1.75), lp_norm_weight=0, tv_weight=0,
                 transforms=(transforms.LIGHT,), optimizer=ADAM_DECAYING, relu_warmup=16, uncap_relu6=True)

# MACO (Fel et al., 2023): phase only, a fixed natural magnitude spectrum, random crops plus
# noise (four per image per step, their gradients averaged); its alpha mask comes with the
# result. The style keeps the canvas at the model's input and the crops at the whole image:
# deep-layer activation is what users pick MACO for, and crops shrinking on a larger canvas
# (MACO_CANVAS) stay below fourier's at 96 and at 256 steps, where whole-image crops beat it
# (bench/QUALITY.md). MACO_CANVAS's crops end at the model's scale (1 / canvas_scale), not below:
# smaller crops optimise details at a zoom the result never shows them at.
ADAM_MACO = {"optimizer": "adam",
             "learning_rate": keras.optimizers.schedules.ExponentialDecay(0.2, 96, 0.5)}
MACO = Recipe(param="maco", lp_norm_weight=0, tv_weight=0, transforms=(maco.MACO,),
              optimizer=ADAM_MACO, relu_warmup=16, uncap_relu6=True)
MACO_CANVAS = MACO.replace(param=functools.partial(maco.MacoImage, canvas_scale=maco.CANVAS_OPTION_SCALE),
                           transforms=(maco.MACO_CANVAS,))

STYLES = {"keras-vis": KERAS_VIS, "lucid": LUCID, "fourier": FOURIER, "maco": MACO}

DEFAULT = "keras-vis"


def names():
    """The style names, the default first."""
    return [DEFAULT] + [name for name in STYLES if name != DEFAULT]


def get(name):
    """The ``Recipe`` of style ``name`` (recipes are frozen: ``.replace(...)`` makes a changed copy)."""
    return STYLES[arguments.check_choice("style", name, names())]


def apply(style, values, defaults):
    """``values`` (old keyword name -> value) with style ``style`` filled in, for the functions
    that take the old keywords (``visualize_activation``).

    A style value replaces an argument that is missing from ``values`` or still at its default
    (``defaults``); an argument the caller changed is kept. A caller's backprop modifier also
    keeps the ReLU gradients its own: the style's ReLU warm-up is dropped then.
    """
    preset = legacy_arguments.style_keywords(get(style))
    resolved = dict(values)
    for name, value in preset.items():
        if name not in values or legacy_arguments.is_default(values[name], defaults.get(name)):
            resolved[name] = value
    if resolved.get("backprop_modifier") is not None:  # the caller's rule for ReLUs wins
        resolved["relu_warmup"] = get(style).with_backprop_modifier(
            resolved["backprop_modifier"], values.get("relu_warmup") or None).relu_warmup
    return resolved


def resolve(style, function, arguments):
    """``function``'s keyword-only ``arguments`` (and ``visualize_filters``'s old keywords) with
    style ``style`` filled in (``apply``), to call ``function`` with; ``style`` is set to None."""
    parameters = inspect.signature(function).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name in arguments}
    defaults.update({name: default for name, default in legacy_arguments.OLD_DEFAULTS.items()
                     if name in arguments and name not in defaults})
    resolved = apply(style, {name: arguments[name] for name in defaults}, defaults)
    resolved["style"] = None
    return resolved
