"""The cached compiled step for a list of objectives (``visualize_filters(objectives=...)``).

The model is cut at every layer the objectives read (each one output once), adapted as for one
layer's filters (backprop modifier, batchnorm folding, ReLU6 ceiling, precision), and the
objectives become one ``ObjectivesLoss`` beside the recipe's Lp and TV penalties. The cache key
holds the objectives' *structures*, not their numbers: another list of the same structures
reuses the traced step.
"""
from __future__ import annotations

from .. import (backprop_modifiers, batchnorm_folding, catalogue, grad_modifiers, input_modifiers as modifiers_module,
                model_cut, model_facts, parameterizations, precision as precision_module)
from ..cache_keys import optimizer_key, settings_key
from ..engine import CompiledOptimizer, Problem
from ..regularizers import LPNorm, TotalVariation
from .algebra import LossObjective, Objective, as_objective
from .batched import LayerView, ObjectivesLoss


def checked(objectives):
    """``objectives`` as a list of Objective (keras-vis ``Loss`` instances wrapped)."""
    if isinstance(objectives, (str, bytes, Objective)) or not hasattr(objectives, "__iter__"):
        raise TypeError(f"objectives={objectives!s:.60} is not a list: pass a list of objectives, e.g. "
                        "objectives=[objectives.channel('conv2', 3)].")
    listed = []
    for k, objective in enumerate(objectives):
        try:
            listed.append(as_objective(objective))
        except TypeError as error:
            raise TypeError(f"objectives[{k}]: {error}") from None
    if not listed:
        raise ValueError("objectives is empty: give at least one objective.")
    return listed


def structures_of(objectives):
    """One representative per structure, in order of first appearance."""
    seen = {}
    for objective in objectives:
        seen.setdefault(objective.structure(), objective)
    return list(seen.values())


def compiled_for_objectives(model, objectives, *, image_size=None, backprop_modifier=None, param=None,
                            input_modifiers=(), grad_modifier=None, norm_grads=True, jit_compile=False,
                            optimizer_settings=None, precision="float32", uncap_relu6=False, relu_warmup=0):
    """``(CompiledOptimizer, ObjectivesLoss)`` for ``objectives`` (cached per model, structures
    and settings). Raises the user-facing errors (unknown layer, ...) before anything compiles."""
    from .. import visualization as vis  # its cache and model helpers; it imports this module lazily

    facts = model_facts.of(model)
    facts.check_computable()
    structures = structures_of(objectives)
    custom = any(isinstance(node, LossObjective) for s in structures for node in s.nodes())
    if custom:
        _check_own_graph(model, facts, image_size, backprop_modifier, precision, uncap_relu6, relu_warmup)
    modified = vis._with_backprop_modifier(facts.working, backprop_modifier)
    resolved = {ref: _working_layer(modified, facts, ref, objectives) for s in structures for ref in s.layers()}
    names = list(dict.fromkeys(resolved.values()))
    size = model_cut.resolve_image_size(modified, image_size)
    parameterization = parameterizations.get(param)
    input_modifiers = modifiers_module.checked(input_modifiers)
    key = ("objectives", tuple(s.structure() for s in structures), tuple(resolved.items()), size,
           settings_key(parameterization), tuple(settings_key(m) for m in input_modifiers),
           settings_key(grad_modifier), norm_grads, jit_compile, optimizer_key(optimizer_settings),
           precision, uncap_relu6)
    with vis._CACHE_LOCK:
        per_model = vis._COMPILED.setdefault(modified, {})
        if key not in per_model:
            computed_in, cut = _adapted_cut(modified, names, size, precision, uncap_relu6, fold=not custom)
            loss = ObjectivesLoss(structures, {name: cut.get_layer(name) for name in names},
                                  {name: LayerView.of(cut, name) for name in names}, resolved)
            image = cut.inputs[0]
            channels_first = catalogue.model_is_channels_first(modified)
            losses = [(loss, 1.0), (LPNorm(image), 10.0)]
            if len(image.shape) > 2:  # TV needs neighbours
                losses.append((TotalVariation(image, channel_axis=1 if channels_first else -1), 10.0))
            problem = Problem(image, losses, channels_first=channels_first, precision=computed_in)
            per_model[key] = CompiledOptimizer(
                problem, parameterization, input_modifiers, grad_modifiers.get(grad_modifier), norm_grads,
                maximize_loss=grad_modifier == "negate", jit_compile=jit_compile,
                optimizer_settings=optimizer_settings)
        compiled = per_model[key]
    return compiled, compiled.problem.losses[0]


def _working_layer(model, facts, ref, objectives):
    try:
        info = catalogue.describe_layer(model, facts.working_name(ref))
    except (ValueError, IndexError, KeyError) as error:
        using = next(str(o) for o in objectives if ref in o.layers())
        raise ValueError(f"objective '{using}': layer={ref!r}: {error}") from None
    return model.layers[info.index].name


def _adapted_cut(model, names, size, precision, uncap_relu6, fold):
    """``(what it computes in, the model from the input to ``names``' outputs)``, adapted as for
    one layer's filters."""
    from .. import visualization as vis

    if not names:  # keras-vis Losses only: they read the model's own graph
        return "float32", model
    cut, _ = model_cut.cut_at_layers(model, names, size)
    if fold:
        cut = batchnorm_folding.fold_batchnorm(cut, keep=set(names))
    if uncap_relu6:
        cut = backprop_modifiers.without_relu6_ceiling(cut)
    return vis._in_precision(cut, precision_module.resolve(precision, cut), fall_back=precision == "auto")


def _check_own_graph(model, facts, image_size, backprop_modifier, precision, uncap_relu6, relu_warmup):
    """A keras-vis ``Loss`` reads the tensors of the model it was built on: the run must use that
    graph as it is (no rebuilt copy)."""
    size = model_cut.resolve_image_size(model, image_size)
    model_size, _ = model_cut.input_image_size(model)
    changes = [what for what, changed in (
        (f"image_size={image_size} (the model takes {tuple(model_size)})", tuple(model_size) != size),
        (f"backprop_modifier={backprop_modifier!r}", backprop_modifier is not None),
        (f"precision={precision!r}", precision != "float32"),
        ("the recipe's uncap_relu6=True", uncap_relu6), (f"the recipe's relu_warmup={relu_warmup}", relu_warmup),
        ("a nested model (its layers are inlined into a copy)", facts.working is not model)) if changed]
    if changes:
        raise ValueError(f"A keras-vis Loss in objectives reads the layers of the model it was built on, which "
                         f"this run would rebuild: {'; '.join(changes)}. Run it with recipe='keras-vis' (or a "
                         "Recipe with uncap_relu6=False, relu_warmup=0, no backprop_modifier), float32 and the "
                         "model's own image size, or write it as objectives (channel, neuron, direction).")
