"""``visualize_filters``'s keyword arguments from before ``Recipe``, mapped onto it.

Released notebooks call ``visualize_filters(model, layer, tv_weight=0, input_modifiers=[...],
style='fourier')``. Those calls keep working: each old keyword sets its ``Recipe`` field, and the
call warns once (a ``DeprecationWarning`` naming the fields to use). The old rule of styles is
kept: with a style or recipe given, an old keyword left at its old default does not override it.
``style=`` is not deprecated: it is ``recipe=<name>``.
"""
from __future__ import annotations

import warnings

from . import arguments

# Old keyword -> the Recipe field that replaces it.
FIELDS = {
    "param": "param", "input_modifiers": "transforms", "optimizer_settings": "optimizer",
    "act_max_weight": "act_max_weight", "lp_norm_weight": "lp_norm_weight", "tv_weight": "tv_weight",
    "diversity": "diversity", "relu_warmup": "relu_warmup", "uncap_relu6": "uncap_relu6",
    "norm_grads": "norm_grads", "grad_modifier": "grad_modifier", "backprop_modifier": "backprop_modifier",
}

# The old defaults of visualize_filters (None: "the style's, or keras-vis's").
OLD_DEFAULTS = {
    "param": None, "input_modifiers": None, "optimizer_settings": None, "act_max_weight": 1,
    "lp_norm_weight": 10, "tv_weight": 10, "diversity": 0, "relu_warmup": None, "uncap_relu6": False,
    "norm_grads": True, "grad_modifier": None, "backprop_modifier": None, "objective": "mean",
}

# objective= is not part of a recipe: it says what is maximized, which objectives= now says.
OBJECTIVE_REPLACEMENT = ("objectives=[objectives.channel(layer, n) ...] ('mean'), "
                         "[objectives.neuron(layer, n) ...] ('center') or [-objectives.channel(layer, n) ...] "
                         "('negative')")

# The keyword names of a style's dict form (styles.apply, visualize_activation(style=...)).
STYLE_KEYWORDS = ("param", "act_max_weight", "lp_norm_weight", "tv_weight", "input_modifiers",
                  "optimizer_settings", "relu_warmup", "uncap_relu6")


def is_default(value, default):
    """``value`` is the old default itself (``tv_weight=10``, not ``10.0``: a float says the
    caller chose it)."""
    if value is default:
        return True
    plain = (int, float, str, bool, tuple, type(None))
    return isinstance(value, plain) and isinstance(default, plain) and type(value) is type(default) \
        and value == default


def check_names(function_name, given, accepted):
    """TypeError for a keyword that is neither an old one nor in ``accepted``, with the closest."""
    arguments.check_keywords(function_name, given, set(accepted) | set(OLD_DEFAULTS))


def recipe_changes(legacy, recipe_given):
    """The Recipe fields the old keywords ``legacy`` set. With a style or recipe given, a keyword
    at its old default leaves the recipe's value (the old rule of styles). A backprop_modifier
    among them goes through ``Recipe.with_backprop_modifier`` (``visualization.resolve_recipe``)."""
    changes = {}
    for name, value in legacy.items():
        if name == "objective" or (recipe_given and is_default(value, OLD_DEFAULTS[name])):
            continue
        if value is None and name in ("param", "input_modifiers", "optimizer_settings", "relu_warmup"):
            continue  # None meant "the default": the recipe's
        changes[FIELDS[name]] = value
    if "transforms" in changes:
        from .input_modifiers import checked

        changes["transforms"] = checked(changes["transforms"])  # one modifier alone counted as a list
    return changes


def warn(function_name, legacy, stacklevel):
    """One DeprecationWarning for the old keywords of one call, naming what replaces each."""
    if not legacy:
        return
    fields = [f"{name} -> {FIELDS[name]}" for name in legacy if name in FIELDS]
    parts = []
    if fields:
        parts.append(f"put them in a Recipe ({', '.join(fields)}), e.g. recipe=styles.KERAS_VIS.replace("
                     + ", ".join(f"{FIELDS[name]}=..." for name in legacy if name in FIELDS) + ")")
    if "objective" in legacy:
        parts.append(f"objective= -> {OBJECTIVE_REPLACEMENT}")
    names = ", ".join(f"{name}=" for name in legacy)
    warnings.warn(f"{function_name}'s keyword arguments {names} are deprecated: {'; '.join(parts)}.",
                  DeprecationWarning,
                  stacklevel=stacklevel + 1)


def style_keywords(recipe):
    """A recipe as the dict of old keywords a style used to be (``styles.apply``): a fresh
    parameterization, transforms as a list (None when there are none)."""
    return {"param": recipe.parameterization(), "act_max_weight": recipe.act_max_weight,
            "lp_norm_weight": recipe.lp_norm_weight, "tv_weight": recipe.tv_weight,
            "input_modifiers": list(recipe.transforms) or None, "optimizer_settings": dict(recipe.optimizer),
            "relu_warmup": recipe.relu_warmup, "uncap_relu6": recipe.uncap_relu6}
