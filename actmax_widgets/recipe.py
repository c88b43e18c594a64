"""``Recipe``: how filter images are made, as one object (Lucent's shape).

``visualize_filters(model, layer, filters, recipe=...)`` takes the target and the run's size
(``max_iter``, ``image_size``, ``batch_size``, ``seed``, ``precision``) as arguments; everything
that decides what the images look like is one ``Recipe``: the image parameterization, the input
transforms, the optimizer (and its learning-rate schedule) and the weights of the losses. The
named styles are recipes (``styles.KERAS_VIS``, ``styles.LUCID``, ``styles.FOURIER``, ``styles.MACO``); copy one
with changes::

    recipe = styles.FOURIER.replace(transforms=(), optimizer={"optimizer": "adam", "learning_rate": 0.02})
    visualize_filters(model, "conv2", [0, 1, 2], recipe=recipe)

A ``Recipe()`` with no arguments is keras-vis's behaviour (pixels, L6 and TV penalties with
weight 10, no transforms, keras-vis's RMSprop). Values are checked when the recipe is made, so a
bad one fails at the line that wrote it, naming the field.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing

from . import arguments, backprop_modifiers, cache_keys, grad_modifiers, parameterizations
from . import input_modifiers as input_modifiers_module
from .engine import KERAS_VIS_RMSPROP


@dataclasses.dataclass(frozen=True, repr=False)
class Recipe:
    """Parameterization, transforms, optimizer and loss weights of a run (defaults: keras-vis's).

    Parameters
    ----------
    param : str, parameterization or factory
        ``'pixel'`` (keras-vis's), ``'fourier'``, a registered name, an object with
        ``init_params`` and ``to_image``, or a callable making one (``functools.partial(
        FourierImage, decay=1.75)``: a fresh one per run, see ``parameterization()``).
    transforms : tuple of input modifiers
        Applied to the image before each step (``transforms.LIGHT``, ``Jitter(0.05)``, ...).
    optimizer : dict
        For ``engine.make_optimizer``: ``{"optimizer": "adam", "learning_rate": 0.05}``; the
        learning rate may be a ``keras.optimizers.schedules`` schedule. Default keras-vis's
        RMSprop (learning rate 1). Read-only once in the recipe.
    act_max_weight, lp_norm_weight, tv_weight : float
        Weights of the activation, L6-norm and total-variation losses; 0 drops that loss.
    diversity : float
        Weight of Lucid's diversity penalty: list a filter several times (``[5, 5, 5, 5]``) and
        its copies, optimized in one batch, are pushed towards different patterns (similar Gram
        matrices of the layer's features are penalised). Copies split over chunks (more than
        ``batch_size`` targets) are only compared within their chunk.
    relu_warmup : int
        For this many first steps, gradients also pass through ReLUs that are off when that would
        turn them on (``relu_warmup`` module): revives channels dead on the start image.
    uncap_relu6 : bool
        When the target layer is a ReLU6, maximize it as a plain ReLU (no ceiling at 6): a ReLU6
        channel stops changing once its units reach 6 and its image freezes, often blurry; without
        the ceiling it keeps strengthening what the channel responds to (Lucid optimizes pre-ReLU
        tensors likewise). The activations reported are then the uncapped values.
    backprop_modifier : str or callable, optional
        ``'guided'`` or ``'rectified'``: changes the ReLU gradients (then ``relu_warmup`` must be 0).
    grad_modifier : str or callable, optional
        E.g. ``'negate'``.
    norm_grads : bool
        L2-normalize each image's gradient before the optimizer step (keras-vis's rule).
    """

    param: typing.Any = "pixel"
    transforms: tuple = ()
    optimizer: typing.Mapping = dataclasses.field(default_factory=lambda: dict(KERAS_VIS_RMSPROP))
    act_max_weight: float = 1.0
    lp_norm_weight: float = 10.0
    tv_weight: float = 10.0
    diversity: float = 0.0
    relu_warmup: int = 0
    uncap_relu6: bool = False
    backprop_modifier: typing.Any = None
    grad_modifier: typing.Any = None
    norm_grads: bool = True

    def __post_init__(self):
        set_field = object.__setattr__.__get__(self)  # frozen: the checked values are stored once, here
        set_field("param", _checked_param(self.param))
        set_field("transforms", _checked_transforms(self.transforms))
        optimizer = KERAS_VIS_RMSPROP if self.optimizer is None else self.optimizer
        # A read-only copy: changing the dict passed in (or the recipe's) cannot change this recipe.
        set_field("optimizer", types.MappingProxyType(
            dict(arguments.check_optimizer_settings("optimizer", _plain(optimizer)))))
        for name in ("act_max_weight", "lp_norm_weight", "tv_weight", "diversity"):
            arguments.check(**{name: getattr(self, name)})
            set_field(name, float(getattr(self, name)))
        arguments.check(relu_warmup=self.relu_warmup)
        set_field("relu_warmup", int(self.relu_warmup or 0))
        for name in ("uncap_relu6", "norm_grads"):
            set_field(name, arguments.check_bool(name, getattr(self, name)))
        backprop_modifiers.get(self.backprop_modifier)  # an unknown name fails here, listing the names
        grad_modifiers.get(self.grad_modifier)
        if self.relu_warmup and self.backprop_modifier is not None:
            raise ValueError(f"relu_warmup={self.relu_warmup} and backprop_modifier={self.backprop_modifier!r} "
                             "both change the ReLU gradients: use one, e.g. .replace(backprop_modifier="
                             f"{self.backprop_modifier!r}, relu_warmup=0).")

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` (field name -> value); this recipe stays as it is."""
        fields = [field.name for field in dataclasses.fields(self)]
        for name in changes:
            if name not in fields:
                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(f"Recipe has no field {name!r}{hint}: its fields are {', '.join(fields)}.")
        return dataclasses.replace(self, **changes)

    def with_backprop_modifier(self, backprop_modifier, relu_warmup=None) -> Recipe:
        """A copy using ``backprop_modifier``. Both rewrite the ReLU gradients, so a modifier turns
        the recipe's ReLU warm-up off (the rule the widget, the old keywords and styles.apply
        share); ``relu_warmup`` given (not None) is used as it is."""
        if relu_warmup is None:
            relu_warmup = 0 if backprop_modifier is not None else self.relu_warmup
        return self.replace(backprop_modifier=backprop_modifier, relu_warmup=relu_warmup)

    def parameterization(self):
        """The image parameterization for one run: a fresh one from a name or a factory (it
        remembers its run's size and range); an object passed as ``param`` is returned itself."""
        if isinstance(self.param, str) or _is_parameterization(self.param):
            return parameterizations.get(self.param)
        return _made_by(self.param)

    def __hash__(self):
        # The generated hash fails on the read-only optimizer mapping: it goes in as sorted items,
        # a schedule by its class and config (cache_keys), so equal recipes hash equal.
        return hash(tuple(cache_keys.optimizer_key(self.optimizer) if field.name == "optimizer"
                          else getattr(self, field.name) for field in dataclasses.fields(self)))

    def __repr__(self):
        # Only what differs from keras-vis's defaults: Recipe(param='fourier', tv_weight=0.0).
        default = _DEFAULTS.get("recipe")
        changed = [f"{field.name}={_shown(getattr(self, field.name))}" for field in dataclasses.fields(self)
                   if default is None or getattr(self, field.name) != getattr(default, field.name)]
        return f"Recipe({', '.join(changed)})"


_DEFAULTS = {}


def _plain(optimizer):
    return dict(optimizer) if isinstance(optimizer, types.MappingProxyType) else optimizer


def _shown(value):
    return repr(dict(value)) if isinstance(value, types.MappingProxyType) else repr(value)


def _is_parameterization(value):
    return hasattr(value, "init_params") and hasattr(value, "to_image") and not isinstance(value, type)


def _checked_param(param):
    """A name is checked against the registered ones; an object must be a parameterization or a
    callable that makes one (called per run, not here)."""
    if param is None:
        return "pixel"
    if isinstance(param, str):
        parameterizations.get(param)  # an unknown name fails here, listing the names
        return param
    if _is_parameterization(param) or callable(param):
        return param
    raise TypeError(f"param={arguments.show(param)} is not an image parameterization: pass 'pixel', "
                    "'fourier', an object with init_params and to_image, or a callable making one.")


def _made_by(factory):
    """The parameterization ``factory()`` makes; any other outcome is an error naming ``param``
    (not a failure deep in the run)."""
    try:
        made = factory()
    except TypeError as error:  # e.g. param=len: not a factory taking no arguments
        raise TypeError(f"param={arguments.show(factory)} cannot be called with no arguments to make an image "
                        f"parameterization ({error}): pass 'pixel', 'fourier', an object with init_params and "
                        "to_image, or a callable taking no arguments that returns one.") from error
    if not _is_parameterization(made):
        raise TypeError(f"param={arguments.show(factory)} returned {arguments.show(made)}, not an image "
                        "parameterization (an object with init_params and to_image): pass 'pixel', 'fourier', "
                        "such an object, or a callable returning one.")
    return made


def _checked_transforms(transforms):
    """A tuple of input modifiers; the error names ``transforms`` (the check is input_modifiers')."""
    try:
        return tuple(input_modifiers_module.checked(transforms))
    except TypeError as error:
        raise TypeError(str(error).replace("input_modifiers", "transforms")) from None


_DEFAULTS["recipe"] = Recipe()
