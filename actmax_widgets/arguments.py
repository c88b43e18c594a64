"""Checks of user arguments, so a bad value fails at once with a message that names the argument,
the value and the fix, instead of a deep TensorFlow trace (or a silent wrong result) later.

Each entry point calls ``check`` with its arguments by name, before any model work::

    arguments.check(max_iter=max_iter, seed=seed, input_range=input_range)

``check`` looks each name up in ``RULES``; the validators (``check_int``, ``check_number``, ...)
serve modules with their own arguments (``Jitter``, ``LPNorm``, the widget). Wrong types raise
TypeError, wrong values ValueError. Importing this module imports neither NumPy's heavy users
nor Keras: the CLI checks its arguments with it before TensorFlow loads.
"""
from __future__ import annotations

import difflib
import math
import numbers

# Larger images than this per side are almost surely a typo (a 4096² batch of 32 float32 images
# alone is 6 GiB) and would fail deep inside TensorFlow with an allocation error.
MAX_IMAGE_SIDE = 4096
MIN_IMAGE_SIDE = 8


def show(value, limit=60) -> str:
    """``repr(value)`` cut to ``limit`` characters (arrays and long lists stay readable)."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        return f"<array of shape {tuple(value.shape)}, dtype {value.dtype}>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _bounds(name, value, minimum, maximum, fix, above=None):
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={show(value)} is too small: {fix or f'use at least {minimum}'}.")
    if above is not None and value <= above:
        raise ValueError(f"{name}={show(value)} must be greater than {above}: {fix or 'use a larger value'}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={show(value)} is too large: {fix or f'use at most {maximum}'}.")


def check_int(name, value, minimum=None, maximum=None, fix=""):
    """``value`` as an int; a bool, float or string is a TypeError (``max_iter=2.5`` is a slip,
    not a request to round), a value outside ``[minimum, maximum]`` a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={show(value)} is not an integer ({type(value).__name__}): "
                        f"{fix or f'pass a whole number, e.g. {name}={minimum if minimum is not None else 0}'}.")
    value = int(value)
    _bounds(name, value, minimum, maximum, fix)
    return value


def check_number(name, value, minimum=None, maximum=None, fix="", above=None):
    """``value`` as a finite float; NaN, infinity, a bool or a string are refused. ``above`` is an
    exclusive lower bound (a learning rate must be > 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={show(value)} is not a number ({type(value).__name__}): "
                        f"{fix or f'pass an int or a float, e.g. {name}=1.0'}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} is not a finite number: {fix or 'pass a finite value'}.")
    _bounds(name, value, minimum, maximum, fix, above)
    return value


def check_bool(name, value):
    """``value`` as a bool: True, False, numpy's bools, and the ints 0 and 1 (Keras code writes
    ``verbose=0``); anything else (a string such as ``'False'`` would count as true) is refused."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name}={show(value)} is not a bool: pass True or False.")


def check_choice(name, value, choices, fix=""):
    """``value`` if it is one of ``choices``; else a ValueError listing them (and the closest)."""
    try:
        if value in choices:
            return value
    except TypeError:  # an unhashable value (a list) is in no table
        pass
    listed = ", ".join(repr(c) for c in choices)
    close = _closest(value, choices) if isinstance(value, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"Unknown {name} {show(value)}{hint}: {fix or f'use one of {listed}'}.")


def _closest(value, choices):
    """The choice ``value`` was probably meant to be (``'Fourier'``, ``'quick'``), in a list of one."""
    lowered = {str(choice).lower(): choice for choice in choices}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1)
    starting = [choice for key, choice in lowered.items() if value and key.startswith(value.lower())]
    return [lowered[close[0]]] if close else starting[:1]


def check_optional(check_function, name, value, *args, **kwargs):
    """``None``, or ``value`` checked by ``check_function``."""
    return None if value is None else check_function(name, value, *args, **kwargs)


def check_range(name, value):
    """``(low, high)``: two finite numbers, low < high (the valid input values, e.g. ``(0, 255)``)."""
    fix = "pass two numbers (low, high), e.g. input_range=(0, 255)"
    not_a_sequence = isinstance(value, (str, bytes)) or not hasattr(value, "__len__")
    if not_a_sequence or len(value) != 2:
        raise (TypeError if not_a_sequence else ValueError)(f"{name}={show(value)} is not a (low, high) pair: {fix}.")
    low, high = (check_number(f"{name}[{k}]", v, fix=fix) for k, v in enumerate(value))
    if not low < high:
        raise ValueError(f"{name}={show(value)} is empty or reversed (low must be below high): "
                         f"pass ({min(low, high)}, {max(low, high)}) with low < high.")
    return value


def check_image_size(name, value):
    """``None``, an int side or a tuple of sides, each in ``[MIN_IMAGE_SIDE, MAX_IMAGE_SIDE]``;
    returned as plain ints (a NumPy integer side is an int, a list of sides a tuple)."""
    if value is None:
        return None
    fix = f"use {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} pixels per side, e.g. {name}=128"
    sides = value if isinstance(value, (tuple, list)) else [value]
    if not sides:
        raise ValueError(f"{name}={show(value)} is empty: {fix}.")
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral):
            raise TypeError(f"{name}={show(value)} is not an int or a tuple of ints: {fix}.")
        if not MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE:
            raise ValueError(f"{name}={show(value)} is out of range: {fix}.")
    return tuple(int(side) for side in sides) if isinstance(value, (tuple, list)) else int(value)


def check_seed(name, value):
    """``None`` or an int (a string such as ``'abc'`` is not a seed)."""
    return check_optional(check_int, name, value, fix=f"pass an int, e.g. {name}=0, or None for a fresh one")


def check_seed_input(name, value):
    """``None`` or a non-empty numeric array of finite values (NaN would make every step NaN)."""
    if value is None:
        return None
    import numpy as np

    try:
        array = np.asarray(value, dtype="float32")
    except (TypeError, ValueError):
        raise TypeError(f"{name}={show(value)} is not an image array: pass a numeric array in the model's "
                        "layout, e.g. a photo of shape (H, W, 3).") from None
    if array.ndim < 1 or array.size == 0:
        raise ValueError(f"{name}={show(value)} is empty: pass an image in the model's layout, e.g. (H, W, 3).")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{name} holds {bad} NaN or infinite values (shape {array.shape}): pass an image "
                         "of finite values, e.g. np.nan_to_num(image).")
    return value


def check_model(name, value):
    """A ``keras.Model`` (a path or a layer is a common slip)."""
    import keras

    if not isinstance(value, keras.Model):
        raise TypeError(f"{name}={show(value)} is not a keras.Model: pass a model, e.g. "
                        "keras.models.load_model('model.keras') or actmax_widgets.models.efficientnet_lite0().")
    return value


def check_filter_list(name, value):
    """``None`` or a list of int indices (each range is the layer's business, checked later)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}={show(value)} is not a list of filter indices: pass e.g. {name}=[0, 1, 2].")
    for index in value:
        check_int(name, index, minimum=0, fix=f"pass filter indices as ints >= 0, e.g. {name}=[0, 1, 2]")
    return value


def check_layer(name, value):
    """A layer reference as given; only a bool is refused here (``True`` would pick layer 1), the
    rest is ``catalogue.resolve_layer``'s."""
    if isinstance(value, bool):
        raise TypeError(f"{name}={value} is a bool, not a layer: pass the layer's name or its index "
                        "in model.layers.")
    return value


def check_losses(name, value):
    """A list of ``(Loss, weight)`` pairs with finite weights (keras-vis's ``losses`` argument)."""
    fix = f"pass a list of (loss, weight) pairs, e.g. {name}=[(ActivationMaximization(layer, 0), 1)]"
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}={show(value)} is not a list of (loss, weight) pairs: {fix}.")
    for k, pair in enumerate(value):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{name}[{k}]={show(pair)} is not a (loss, weight) pair: {fix}.")
        if not callable(getattr(pair[0], "build_loss", None)):
            raise TypeError(f"{name}[{k}] holds {show(pair[0])}, which has no build_loss(): pass a Loss, "
                            "e.g. ActivationMaximization(layer, 0).")
        check_number(f"{name}[{k}] weight", pair[1], fix="pass a finite weight, e.g. 1, or 0 to drop it")
    return value


def check_callbacks(name, value):
    """``None`` or a list of objects with ``callback()`` (``callbacks.OptimizerCallback``)."""
    if value is None:
        return None
    if callable(getattr(value, "callback", None)) or isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}={show(value)} is not a list of callbacks: pass a list, e.g. {name}=[Print()].")
    for k, callback in enumerate(value):
        if not callable(getattr(callback, "callback", None)):
            raise TypeError(f"{name}[{k}]={show(callback)} has no callback() method: pass an "
                            "OptimizerCallback, e.g. Print().")
    return value


def check_callable(name, value):
    """``None`` or a callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{name}={show(value)} is not callable: pass a function, or None.")
    return value


def check_labels(name, value):
    """``None`` or a sequence of names (a single string would label each unit with a letter)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__getitem__"):
        raise TypeError(f"{name}={show(value)} is not a list of names: pass one string per unit, "
                        f"e.g. {name}=['cat', 'dog'].")
    return value


def check_optimizer_settings(name, value):
    """``None`` or a dict for ``engine.make_optimizer``: a Keras optimizer name and a learning rate
    that is a positive finite number or a schedule."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{name}={show(value)} is not a dict: pass e.g. "
                        f"{name}={{'optimizer': 'adam', 'learning_rate': 0.05}}.")
    optimizer = value.get("optimizer", "rmsprop")
    import keras

    try:
        keras.optimizers.get({"class_name": optimizer, "config": {}})
    except (ValueError, TypeError):
        raise ValueError(f"{name}['optimizer']={show(optimizer)} is not a Keras optimizer: use e.g. 'adam', "
                         "'rmsprop' or 'sgd'.") from None
    rate = value.get("learning_rate")
    if rate is not None and not callable(rate):
        check_number(f"{name}['learning_rate']", rate, above=0,
                     fix="use a positive finite step, e.g. 0.05, or a keras.optimizers.schedules schedule")
    return value


def check_stop_event(name, value):
    """``None`` or an object with ``is_set()`` (a ``threading.Event``)."""
    if value is not None and not callable(getattr(value, "is_set", None)):
        raise TypeError(f"{name}={show(value)} has no is_set(): pass a threading.Event, or None.")
    return value


def _weight(name, value):
    return check_number(name, value, minimum=0, fix=f"use a weight >= 0, e.g. {name}=10, or 0 to drop that loss")


RULES = {
    "max_iter": lambda v: check_int("max_iter", v, minimum=1, fix="pass the number of steps, at least 1, "
                                                                   "e.g. max_iter=200"),
    "steps": lambda v: check_optional(check_int, "steps", v, minimum=1,
                                      fix="pass the number of steps, at least 1, e.g. steps=64"),
    "batch_size": lambda v: check_int("batch_size", v, minimum=1, fix="pass how many filters to optimize at "
                                                                      "once, at least 1, e.g. batch_size=32"),
    "image_size": lambda v: check_image_size("image_size", v),
    "seed": lambda v: check_seed("seed", v),
    "seed_input": lambda v: check_seed_input("seed_input", v),
    "input_range": lambda v: check_range("input_range", v),
    "act_max_weight": lambda v: check_number("act_max_weight", v),
    "lp_norm_weight": lambda v: _weight("lp_norm_weight", v),
    "tv_weight": lambda v: _weight("tv_weight", v),
    "diversity": lambda v: _weight("diversity", v),
    "objective": lambda v: check_choice("objective", v, ("mean", "center", "negative")),
    "labels": lambda v: check_labels("labels", v),
    "snapshot_every": lambda v: check_optional(check_int, "snapshot_every", v, minimum=1),
    "snapshot_seconds": lambda v: check_optional(check_number, "snapshot_seconds", v, minimum=0),
    "on_snapshot": lambda v: check_callable("on_snapshot", v),
    "on_start": lambda v: check_callable("on_start", v),
    "stop_event": lambda v: check_stop_event("stop_event", v),
    "relu_warmup": lambda v: check_optional(check_int, "relu_warmup", v, minimum=0,
                                            fix="pass a number of steps >= 0, e.g. relu_warmup=16"),
    "optimizer_settings": lambda v: check_optimizer_settings("optimizer_settings", v),
    "norm_grads": lambda v: check_bool("norm_grads", v),
    "jit_compile": lambda v: check_bool("jit_compile", v),
    "uncap_relu6": lambda v: check_bool("uncap_relu6", v),
    "verbose": lambda v: check_bool("verbose", v),
    "jitter": lambda v: check_number("jitter", v, minimum=0, fix="use a fraction of the size >= 0, e.g. jitter=0.05"),
    "prepare": lambda v: check_bool("prepare", v),
    "model": lambda v: check_model("model", v),
    "filters": lambda v: check_filter_list("filters", v),
    "layer": lambda v: check_layer("layer", v),
    "layer_idx": lambda v: check_layer("layer_idx", v),
    "losses": lambda v: check_losses("losses", v),
    "callbacks": lambda v: check_callbacks("callbacks", v),
    "keep_frames": lambda v: check_int("keep_frames", v, minimum=0,
                                       fix="pass how many frames per image to keep for save_gif, e.g. "
                                           "keep_frames=40, or 0 for none"),
}


def check(**named):
    """Check each argument by its name (``RULES``); names without a rule pass unchecked."""
    for name, value in named.items():
        rule = RULES.get(name)
        if rule is not None:
            rule(value)


def check_keywords(function_name, given, accepted):
    """TypeError for a keyword in ``given`` that is not in ``accepted``, with the closest match
    (``max_itr`` -> ``max_iter``): otherwise a typo surfaces deep inside as an unexpected keyword."""
    for name in given:
        if name not in accepted:
            close = difflib.get_close_matches(name, list(accepted), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"accepted: {', '.join(sorted(accepted))}"
            raise TypeError(f"{function_name}() got an unexpected keyword argument {name!r}: {hint}")
