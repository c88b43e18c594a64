"""The entry points: keras-vis's ``visualize_activation*`` and the batched ``visualize_filters``."""
from __future__ import annotations

import math
import threading
import time
import types
import warnings
import weakref

import keras
import numpy as np

from . import backprop_modifiers, batchnorm_folding, catalogue, grad_modifiers, input_modifiers as modifiers_module
from . import frames as frames_module, model_cut, model_facts, parameterizations, precision as precision_module, relu_warmup as relu_warmup_module
from . import arguments, legacy_arguments, out_of_memory, styles, target_head, utils
from .cache_keys import optimizer_key, settings_key
from .engine import CompiledOptimizer, Problem
from .losses import ActivationMaximization, ChannelActivations, Diversity
from .optimizer import MINIMIZE_KEYWORDS, Optimizer
from .recipe import Recipe
from .regularizers import LPNorm, TotalVariation
from .result import ActMaxResult, Snapshot, alpha_from_attribution
from .sample_random import run_seed, sample_keys


def visualize_activation_with_losses(input_tensor, losses, wrt_tensor=None, seed_input=None,
                                     input_range=(0, 255), **optimizer_params):
    """Generate the input that minimizes weighted ``losses`` (keras-vis's signature).

    Parameters
    ----------
    input_tensor : symbolic tensor
        The model input.
    losses : list of (Loss, weight)
    seed_input : array, optional
        The starting image (model layout); noise when omitted.
    input_range : tuple
        The valid input range; the result is mapped into it (uint8 for a pair of ints).
    **optimizer_params
        ``Optimizer.minimize`` arguments: ``max_iter=200``, ``verbose=False``,
        ``input_modifiers``, ``grad_modifier``, ``callbacks``, and ``seed``, ``param``,
        ``channels_first``, ``norm_grads``.

    Returns
    -------
    np.ndarray
        One image, channels-last.
    """
    arguments.check_keywords("visualize_activation_with_losses", optimizer_params, MINIMIZE_KEYWORDS)
    arguments.check(losses=losses, seed_input=seed_input, input_range=input_range, **optimizer_params)
    optimizer_params = {"max_iter": 200, "verbose": False, **optimizer_params}
    init_params = {k: optimizer_params.pop(k) for k in ("channels_first", "norm_grads") if k in optimizer_params}
    optimizer = Optimizer(input_tensor, losses, input_range, wrt_tensor=wrt_tensor, **init_params)
    return optimizer.minimize(seed_input=seed_input, **optimizer_params)[0]


def visualize_activation(model, layer_idx, filter_indices=None, wrt_tensor=None, seed_input=None,
                         input_range=(0, 255), backprop_modifier=None, grad_modifier=None,
                         act_max_weight=1, lp_norm_weight=10, tv_weight=10, style=None, **optimizer_params):
    """Generate the image that maximizes filters of a layer (keras-vis's signature and defaults).

    Parameters
    ----------
    model : keras.Model
    layer_idx : int or str
        The layer, by index into ``model.layers`` or by name.
    filter_indices : int or list of int, optional
        Conv channels or dense units; a list is maximized jointly into ONE image; ``None`` means
        all of them. For one image per filter, use ``visualize_filters``.
    backprop_modifier : str or callable, optional
        ``'guided'`` or ``'rectified'`` (see ``backprop_modifiers``).
    grad_modifier : str or callable, optional
        E.g. ``'negate'`` to minimize the activation instead.
    act_max_weight, lp_norm_weight, tv_weight : float
        Loss weights; 0 drops that loss.
    style : str, optional
        A named recipe from ``styles`` (``'fourier'``, ``'lucid'``, ``'keras-vis'``): sets
        ``param``, the loss weights, ``input_modifiers``, ``optimizer_settings`` and
        ``relu_warmup`` together; values you pass yourself win. Default: keras-vis's behaviour.
    **optimizer_params
        ``max_iter=200``, ``verbose``, ``input_modifiers``, ``callbacks``, ``seed``, ``param``,
        ``optimizer_settings``, ``relu_warmup`` (see ``Optimizer.minimize``), ``uncap_relu6``
        (see ``visualize_filters``).

    Returns
    -------
    np.ndarray
        One image, channels-last, uint8 for an int ``input_range``.
    """
    arguments.check_keywords("visualize_activation", optimizer_params, MINIMIZE_KEYWORDS | {"uncap_relu6"})
    arguments.check(**locals(), **optimizer_params)
    if style is not None:
        weights = {"act_max_weight": act_max_weight, "lp_norm_weight": lp_norm_weight, "tv_weight": tv_weight}
        resolved = styles.apply(style, {**weights, **optimizer_params, "backprop_modifier": backprop_modifier},
                                {"act_max_weight": 1, "lp_norm_weight": 10, "tv_weight": 10})
        act_max_weight, lp_norm_weight, tv_weight = (resolved.pop(name) for name in weights)
        resolved.pop("backprop_modifier")
        optimizer_params = resolved
    uncap_relu6 = optimizer_params.pop("uncap_relu6", False)
    facts = model_facts.of(model)  # nested models inlined, names TensorFlow accepts
    facts.check_computable()
    model, layer_idx = facts.working, facts.working_name(layer_idx)
    modifier = backprop_modifiers.get(backprop_modifier)
    if modifier is not None:
        if optimizer_params.get("relu_warmup"):
            raise ValueError("relu_warmup and backprop_modifier both change the ReLU gradients: use one.")
        model = modifier(model)
    elif optimizer_params.get("relu_warmup"):
        model = relu_warmup_module.redirected(model)
    info = catalogue.describe_layer(model, layer_idx)
    if wrt_tensor is not None:  # the same layer's output in the model computed with
        from .attribution.keras_vis import wrt_in

        wrt_tensor = wrt_in(facts, model, wrt_tensor)
    if uncap_relu6:  # the layer's own output, without a ReLU6 ceiling (see visualize_filters)
        model = backprop_modifiers.without_relu6_ceiling(
            keras.Model(utils.model_input(model), model.layers[info.index].output))
        info = catalogue.describe_layer(model, info.name)
    indices = catalogue.check_filter_indices(info, filter_indices)
    flat = [i for entry in indices for i in utils.listify(entry)]
    channels_first = catalogue.model_is_channels_first(model)
    image = utils.model_input(model)
    losses = [
        (ActivationMaximization(model.layers[info.index], flat, channel_axis=info.channel_axis), act_max_weight),
        (LPNorm(image), lp_norm_weight),
        (TotalVariation(image, channel_axis=1 if channels_first else -1), tv_weight),
    ]
    return visualize_activation_with_losses(
        image, losses, wrt_tensor, seed_input, input_range, grad_modifier=grad_modifier,
        channels_first=channels_first, **optimizer_params)


get_num_filters = utils.get_num_filters  # keras-vis had it in both vis.visualization and vis.utils.utils


def __getattr__(name):
    # keras-vis's saliency and CAM functions live in ``attribution`` (which imports this module):
    # ``from actmax_widgets.visualization import visualize_saliency`` works as with vis.visualization.
    if name in _ATTRIBUTION:
        from . import attribution

        return getattr(attribution, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ATTRIBUTION = ("visualize_saliency", "visualize_saliency_with_losses", "visualize_cam",
                "visualize_cam_with_losses", "overlay")


# Compiled optimizers survive between calls (one per model, layer and settings): re-running with
# other filters, weights or seeds reuses the traced step.
_COMPILED = weakref.WeakKeyDictionary()
_MODIFIED_MODELS = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _with_backprop_modifier(model, backprop_modifier):
    modifier = backprop_modifiers.get(backprop_modifier)
    if modifier is None:
        return model
    with _CACHE_LOCK:
        per_model = _MODIFIED_MODELS.setdefault(model, {})
        key = backprop_modifier if isinstance(backprop_modifier, str) else id(backprop_modifier)
        if key not in per_model:
            per_model[key] = modifier(model)
        return per_model[key]


def compiled_for(model, layer, *, image_size=None, objective="mean", backprop_modifier=None, param=None,
                 input_modifiers=(), grad_modifier=None, norm_grads=True, jit_compile=False,
                 optimizer_settings=None, diversity=False, precision="float32", uncap_relu6=False,
                 fold_batchnorm=True, target_channels_only=True):
    """The (cached) ``CompiledOptimizer`` for visualizing filters of ``layer``, and its LayerInfo.

    Raises the user-facing errors (missing layer, bad size, ...) before anything is compiled.
    ``fold_batchnorm`` (``batchnorm_folding``) and ``target_channels_only`` (``target_head``) are
    exact speed-ups, on by default; switching them off is for measuring them (bench/).
    """
    facts = model_facts.of(model)  # nested models inlined, names TensorFlow accepts
    facts.check_computable()
    modified = _with_backprop_modifier(facts.working, backprop_modifier)
    info = catalogue.describe_layer(modified, facts.working_name(layer))
    size = model_cut.resolve_image_size(modified, image_size)
    parameterization = parameterizations.get(param)
    grad_modifier_fn = grad_modifiers.get(grad_modifier)
    input_modifiers = modifiers_module.checked(input_modifiers)
    precision_module.check(precision)

    def key(computed_in):
        return (info.name, size, objective, settings_key(parameterization),
                tuple(settings_key(m) for m in input_modifiers), settings_key(grad_modifier), norm_grads,
                jit_compile, optimizer_key(optimizer_settings), diversity, computed_in,
                uncap_relu6, fold_batchnorm, target_channels_only)

    with _CACHE_LOCK:
        per_model = _COMPILED.setdefault(modified, {})
        compiled = per_model.get(key(precision))
        if compiled is None:
            cut, info = model_cut.cut_at(modified, info.name, size)
            if fold_batchnorm:
                cut = batchnorm_folding.fold_batchnorm(cut, keep={info.name})
            if uncap_relu6:
                cut = backprop_modifiers.without_relu6_ceiling(cut)
            # 'auto' shares the compiled step of the precision it resolves to (no second clone).
            computed_in = precision_module.resolve(precision, cut)
            compiled = per_model.get(key(computed_in))
        if compiled is None:
            computed_in, cut = _in_precision(cut, computed_in, fall_back=precision == "auto")
            channels_first = catalogue.model_is_channels_first(modified)
            image = cut.inputs[0]
            # Only the target channels of the layer are computed where its channels are separable
            # (target_head); the diversity penalty needs all of them.
            head = target_head.find(cut) if target_channels_only and not diversity else None
            target = (target_head.TargetChannelActivations(head, reduction=objective) if head is not None else
                      ChannelActivations(cut.layers[-1], channel_axis=info.channel_axis, reduction=objective,
                                         grid=info.grid))
            losses = [(target, 1.0), (LPNorm(image), 10.0)]
            if len(image.shape) > 2:  # TV needs neighbours: a tabular (batch, features) input has none
                losses.append((TotalVariation(image, channel_axis=1 if channels_first else -1), 10.0))
            if diversity:
                losses.append((Diversity(cut.layers[-1], channel_axis=info.channel_axis), 0.0))
            problem = Problem(image, losses, channels_first=channels_first, precision=computed_in)
            compiled = per_model[key(computed_in)] = CompiledOptimizer(
                problem, parameterization, input_modifiers, grad_modifier_fn, norm_grads,
                maximize_loss=grad_modifier == "negate", jit_compile=jit_compile,
                optimizer_settings=optimizer_settings)
        per_model[key(precision)] = compiled
    return compiled, facts.described(info)


def _in_precision(cut, computed_in, fall_back):
    """``(what it computes in, the cut model in it)``. With ``fall_back`` (``'auto'`` picked
    ``computed_in``, the user did not ask for it), a model that cannot be rebuilt in it (custom
    layers without a dtype) stays float32 instead of failing."""
    try:
        return computed_in, model_cut.with_precision(cut, computed_in)
    except ValueError:
        if not fall_back:
            raise
        return "float32", cut


def target_labels(info, targets, labels=None):
    """A caption per target: the class name for dense units when ``labels`` are given."""
    def one(index):
        if labels is not None and info.kind == "dense" and index < len(labels):
            return str(labels[index])
        return str(index)

    return ["+".join(one(i) for i in t) if isinstance(t, list) else one(t) for t in targets]


def _chunks(n, batch_size):
    """Even chunks of at most ``batch_size``: 20 targets at 16 make 2×10, not 16 + 4."""
    n_chunks = max(1, math.ceil(n / max(1, batch_size)))
    size = math.ceil(n / n_chunks)
    return [(start, min(start + size, n)) for start in range(0, n, size)], size


def visualize_filters(model, layer=None, filter_indices=None, *, objectives=None, max_iter=200, image_size=None,
                      batch_size=32, seed=None, precision="float32", callbacks=None, recipe=None, seed_input=None,
                      input_range=(0, 255), labels=None, snapshot_every=None, snapshot_seconds=None,
                      on_snapshot=None, stop_event=None, on_start=None, keep_frames=frames_module.MAX_FRAMES,
                      jit_compile=False, style=None, **old_keywords):
    """One image per filter, all filters optimized together in one compiled step per iteration.

    What the images look like is one ``recipe`` (``Recipe``: parameterization, transforms,
    optimizer, loss weights; keras-vis's by default); the other arguments say what to maximize
    and how long. Each sample of the batch maximizes its own filter. Changing which filters (with
    the same count) reuses the compiled step; more than ``batch_size`` filters run in chunks so
    memory stays bounded.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential, channels-last or channels-first.
    layer : int or str
        The layer (index into ``model.layers`` or name).
    filter_indices : list, optional
        Filters (conv channels) or units (dense); an entry that is a list is a joint target (one
        image maximizing all of them). Default: all filters of the layer.
    objectives : list, optional
        ``actmax_widgets.objectives`` objectives, one image each, instead of ``layer`` and
        ``filter_indices``.
    max_iter : int
        Steps.
    image_size : int or (H, W), optional
        Default: the model's input size, or 128 where it is unknown (``None``). A fixed-size
        model is rebuilt at this size when the layers up to ``layer`` are convolutional.
    batch_size : int
        Most filters optimized at once.
    seed : int, optional
        Same seed, same images (the result's ``seed`` holds the one used).
    precision : {'float32', 'auto', 'bfloat16', 'float16'}
        What the model computes in (the image and its gradient stay float32). ``'bfloat16'``
        runs convolutions several times faster on CPUs with AMX and on recent GPUs, but slower on
        depthwise-heavy nets on CPU. ``'auto'`` picks bfloat16 only where it is measured faster
        (an AMX CPU, no depthwise convolution up to ``layer``; the ``precision`` module has the
        rule and the figures) and float32 elsewhere; ``result.precision`` says which ran.
        Default float32: exact, the model's own numbers.
    callbacks : list of OptimizerCallback, optional
        keras-vis's callbacks (``Print``, ``GifGenerator`` or your own), called after every step
        with the whole batch: ``named_losses`` hold one value per image, ``grads`` and
        ``wrt_value`` the batch in the model's layout (a ``GifGenerator`` then records the grid).
        ``i`` counts steps over all chunks. Fetching the batch every step costs time: leave it
        out for the fastest run.
    recipe : Recipe or str, optional
        How the images are made: a ``Recipe`` (``styles.FOURIER.replace(tv_weight=1)``) or a
        style's name (``'fourier'``, ``'lucid'``, ``'keras-vis'``, ``'maco'``). Default ``styles.KERAS_VIS``.
    seed_input : array, optional
        One starting image (model layout) used for every filter (pixel parameterization only).
    input_range : tuple
        The valid input values; images come back as uint8 for a pair of ints.
    labels : list of str, optional
        Class names for dense units.
    snapshot_every : int, optional
        Call ``on_snapshot(Snapshot)`` every that many steps (and after the first and the last
        step); returning ``False`` stops the run.
    snapshot_seconds : float, optional
        Or at most one snapshot per that many seconds (live displays: building a snapshot costs
        a copy and a deprocess of every image, so it should not happen on every fast step).
    stop_event : threading.Event, optional
        Set it (from another thread) to stop between two steps.
    on_start : callable, optional
        ``on_start(layer_info, needs_compile)`` once the request is validated, before the first
        step; ``needs_compile`` is False when a cached compiled step will be reused.
    keep_frames : int
        Most frames of each image the result keeps for ``result.save_gif`` (fewer when the
        images together would pass 64 MB); 0 keeps none.
    jit_compile : bool
        Compile TensorFlow's step with XLA. JAX always compiles it with XLA (``jax.jit``); PyTorch
        runs it eagerly: both ignore this.
    style : str, optional
        The same as ``recipe=<name>`` (kept for released code).
    **old_keywords
        The keywords from before ``Recipe`` still work, with a ``DeprecationWarning``: ``param``,
        ``input_modifiers`` (Recipe field ``transforms``), ``optimizer_settings`` (``optimizer``),
        ``act_max_weight``, ``lp_norm_weight``, ``tv_weight``, ``diversity``, ``relu_warmup``,
        ``uncap_relu6``, ``norm_grads``, ``grad_modifier``, ``backprop_modifier`` (each the
        field of the same name), and ``objective`` (``'mean'``, ``'center'``, ``'negative'``:
        use ``objectives=``). With a style or recipe given, one left at its old default keeps
        the recipe's value, as before.

    Returns
    -------
    ActMaxResult
        ``.images`` ``(N, H, W, C)``, histories, ``.dead`` flags. A stopped run returns what it
        reached.
    """
    run = _run_settings(locals())
    recipe = resolve_recipe(recipe, style, old_keywords, stacklevel=2)
    objective = old_keywords.get("objective", "mean")
    if objectives is not None:
        if layer is not None or filter_indices is not None:
            raise TypeError("visualize_filters() got objectives= and layer=/filter_indices=: the objectives say "
                            "which layers they read; pass one or the other.")
        _check_objectives_settings(recipe, old_keywords)
        return _visualize_objectives(model, objectives, recipe, run)
    if layer is None:
        raise TypeError("visualize_filters() needs layer= (the layer whose filters to visualize), or objectives=.")
    return _visualize(model, layer, filter_indices, recipe, objective, run)


def _check_objectives_settings(recipe, old_keywords):
    """Settings the objectives path cannot honour are refused, not dropped."""
    if "objective" in old_keywords:
        raise TypeError(f"visualize_filters() got objective={old_keywords['objective']!r} and objectives=: "
                        "the objectives say what is maximized; drop objective=.")
    if recipe.diversity > 0:
        raise ValueError(f"visualize_filters() got a recipe with diversity={recipe.diversity!r} and objectives=: "
                         "with objectives, add it to the objective, listed once per copy, e.g. objectives=[objectives."
                         f"channel(layer, n) + {recipe.diversity!r} * objectives.diversity(layer)] * 4, and pass "
                         "recipe.replace(diversity=0).")


_RUN_KEYWORDS = ("max_iter", "image_size", "batch_size", "seed", "precision", "callbacks", "seed_input",
                 "input_range", "labels", "snapshot_every", "snapshot_seconds", "on_snapshot", "stop_event",
                 "on_start", "keep_frames", "jit_compile")


def _run_settings(given):
    """The checked run arguments of a ``visualize_filters`` call (its ``locals()``), by name."""
    run = {name: given[name] for name in _RUN_KEYWORDS}
    arguments.check(model=given["model"], layer=given["layer"], **run)
    run["image_size"] = arguments.check_image_size("image_size", run["image_size"])  # NumPy ints as ints
    precision_module.check(run["precision"])
    return types.SimpleNamespace(**run)


def resolve_recipe(recipe, style, old_keywords, stacklevel=1):
    """The ``Recipe`` of a call: ``recipe`` (a Recipe or a style's name) or ``style`` (its alias),
    keras-vis's when neither, changed by the old keywords (``legacy_arguments``), which warn once
    (``stacklevel`` as ``warnings.warn``'s, counted from the caller of this function)."""
    legacy_arguments.check_names("visualize_filters", old_keywords, _RUN_KEYWORDS + ("recipe", "style"))
    arguments.check(**old_keywords)  # by their old names, as the messages have always said
    legacy_arguments.warn("visualize_filters", old_keywords, stacklevel=stacklevel + 1)
    if style is not None and recipe is not None:
        raise TypeError(f"style={style!r} and recipe={arguments.show(recipe)} both given: style= is another "
                        "name for recipe=; pass one.")
    if recipe is None:  # a style by name (it says which when the name is wrong), or keras-vis's
        base = styles.get(styles.DEFAULT if style is None else style)
    elif isinstance(recipe, str) or isinstance(recipe, Recipe):
        base = recipe if isinstance(recipe, Recipe) else styles.get(recipe)
    else:
        raise TypeError(f"recipe={arguments.show(recipe)} is not a Recipe: pass e.g. recipe=styles.FOURIER, "
                        f"a style's name ({', '.join(map(repr, styles.names()))}) or Recipe(...).")
    changes = legacy_arguments.recipe_changes(old_keywords, recipe_given=recipe is not None or style is not None)
    if "backprop_modifier" in changes:  # it turns the recipe's ReLU warm-up off unless relu_warmup= is given
        base = base.with_backprop_modifier(changes.pop("backprop_modifier"), changes.pop("relu_warmup", None))
    return base.replace(**changes) if changes else base


def _visualize(model, layer, filter_indices, recipe, objective, run):
    """Optimize one image per target of ``layer`` with ``recipe``: ``run`` holds the run's
    arguments (``_run_settings``)."""
    started = time.perf_counter()
    if recipe.relu_warmup:
        model = relu_warmup_module.redirected(model_facts.of(model).working)  # answers to the same names
    compiled, info = compiled_for(
        model, layer, objective="mean" if objective == "negative" else objective, diversity=bool(recipe.diversity),
        **_compile_options(recipe, run))
    targets = catalogue.check_filter_indices(info, filter_indices)
    if not targets:
        raise ValueError("filter_indices is empty: give at least one filter.")
    problem = compiled.problem
    seed = run_seed(run.seed)
    spans, chunk_size = _chunks(len(targets), run.batch_size)
    target_keys = sample_keys(seed, _numbered_copies(targets))
    plan = types.SimpleNamespace(
        compiled=compiled, spans=spans, chunk_size=chunk_size,
        chunk_inputs=lambda start, end, size: _chunk_inputs(targets, target_keys, start, end, size, problem.n_channels[0],
                                                      negative=objective == "negative") + (None,),
        weights=_loss_weights(problem, model.name, (recipe.act_max_weight, recipe.lp_norm_weight, recipe.tv_weight),
                              recipe.diversity),
        seed_images=_broadcast_seed(problem, run.seed_input, compiled.parameterization))
    log = _run_plan(plan, len(targets), info, recipe, run, started)
    return log.result(problem, info, targets, target_labels(info, targets, run.labels), seed)


def _visualize_objectives(model, objectives, recipe, run):
    """One image per objective (``objectives``), all in one compiled step per chunk; labels are
    ``str(objective)``. ``recipe.diversity`` does not apply: add ``objectives.diversity``."""
    from .objectives import batched, compiled as objectives_compiled

    started = time.perf_counter()
    objectives = objectives_compiled.checked(objectives)
    if recipe.relu_warmup:
        model = relu_warmup_module.redirected(model_facts.of(model).working)  # answers to the same names
    compiled, loss = objectives_compiled.compiled_for_objectives(
        model, objectives, relu_warmup=recipe.relu_warmup, **_compile_options(recipe, run))
    data = [loss.sample_data(objective) for objective in objectives]  # every number checked before a step
    problem, seed = compiled.problem, run_seed(run.seed)
    spans, chunk_size = _chunks(len(objectives), run.batch_size)
    keys = sample_keys(seed, _numbered_copies(batched.objective_keys(objectives)))
    groups = batched.group_ids(objectives)
    plan = types.SimpleNamespace(
        compiled=compiled, spans=spans, chunk_size=chunk_size,
        chunk_inputs=lambda start, end, size: _with_masks(batched.chunk_inputs(
            loss, objectives, data, keys, groups, (start, end), size)),
        weights=_loss_weights(problem, model.name, (recipe.act_max_weight, recipe.lp_norm_weight, recipe.tv_weight), 0),
        seed_images=_broadcast_seed(problem, run.seed_input, compiled.parameterization))
    layers = catalogue.describe_layer(model, objectives[0].layers()[0]) if objectives[0].layers() else None
    log = _run_plan(plan, len(objectives), layers, recipe, run, started)
    shown = types.SimpleNamespace(name=", ".join(loss.views[name].name for name in loss.layers) or "objectives")
    return log.result(problem, shown, objectives, [str(objective) for objective in objectives], seed)


def _compile_options(recipe, run):
    """The compiled step's settings that come from the recipe and the run, the same for filters
    and for objectives."""
    return dict(image_size=run.image_size, backprop_modifier=recipe.backprop_modifier,
                param=recipe.parameterization(), input_modifiers=list(recipe.transforms),
                grad_modifier=recipe.grad_modifier, norm_grads=recipe.norm_grads, jit_compile=run.jit_compile,
                optimizer_settings=dict(recipe.optimizer), precision=run.precision, uncap_relu6=recipe.uncap_relu6)


def _run_plan(plan, n, info, recipe, run, started):
    """Tell ``on_start`` whether a compile is due, then run ``plan``'s ``n`` targets into a fresh
    ``_RunLog`` (returned)."""
    problem = plan.compiled.problem
    if run.on_start is not None:
        run.on_start(info, not plan.compiled.is_traced(plan.chunk_size))
    log = _RunLog(n, plan.compiled.parameterization.display, run.input_range, started,
                  # Sized by the optimized image (a MACO canvas is larger than the model's input).
                  frames_module.FrameRecorder(n, plan.compiled.canvas_shape(problem.image_shape), run.max_iter,
                                              run.keep_frames))
    _run_chunks(plan, log, recipe, run)
    return log


def _with_masks(keys_and_inputs):
    keys, sample_inputs = keys_and_inputs
    return keys, None, sample_inputs


def _run_chunks(plan, log, recipe, run):
    """The optimization loop: ``plan``'s targets chunk by chunk into ``log``, until done or stopped.

    Out of device memory (any backend), the chunk that failed and those after it run again in
    chunks half as large, down to one image; finished chunks are kept; one warning at the end."""
    watchers = _Watchers(run.callbacks, plan.compiled.problem, run.max_iter)
    listen = (watchers, _SnapshotPolicy(run.snapshot_every, run.snapshot_seconds, run.max_iter).due)
    shrinker = out_of_memory.Shrinker(plan.chunk_size)
    pending, done = list(plan.spans), 0
    try:
        while pending:
            start, end = pending[0]
            try:
                record = _run_chunk(plan, log, recipe, run, listen, (start, end, shrinker.size),
                                    (done, done + len(pending)))
            except Exception as error:  # noqa: BLE001 - anything but an out-of-memory is raised again
                if not out_of_memory.is_out_of_memory(error):
                    raise
                log.discard_chunk(start, end)  # the failed attempt's steps and frames are not history
                plan.compiled.forget(shrinker.size)  # its state holds device memory the smaller chunks need
                spans, shrinker.size = _chunks(pending[-1][1] - start, shrinker.halve(error))
                pending = [(start + a, start + b) for a, b in spans]
                continue
            pending.pop(0)
            done += 1
            log.finish_chunk(start, end - start, record)
            if record.stopped:
                break
    finally:
        watchers.end()  # keras-vis's on_end: also after a stop or an error
        shrinker.warn()


def _run_chunk(plan, log, recipe, run, listen, span, chunks):
    """One chunk: targets ``span`` = (start, end, chunk size), padded to the chunk size;
    ``chunks`` = (this chunk's number, how many chunks in all) for progress and callbacks."""
    (start, end, size), (chunk_number, n_chunks), max_iter = span, chunks, run.max_iter
    keys, masks, sample_inputs = plan.chunk_inputs(start, end, size)
    seed_images = None if plan.seed_images is None else np.repeat(plan.seed_images, size, 0)
    on_step = _step_listener(log, listen[0], run.on_snapshot, listen[1], start, end - start, chunk_number,
                             (max_iter, n_chunks * max_iter))
    should_stop = (lambda: run.stop_event.is_set()) if run.stop_event is not None else None
    return plan.compiled.run(keys, masks, plan.weights, max_iter=max_iter, seed_images=seed_images,
                             input_range=run.input_range, on_step=on_step, should_stop=should_stop,
                             warmup_steps=recipe.relu_warmup, sample_inputs=sample_inputs)


def _loss_weights(problem, model_name, base_weights, diversity):
    """The weight of each loss term of ``problem``: activation, Lp, TV (the ones it has), diversity."""
    n_base = len(problem.names) - (1 if diversity else 0)
    if base_weights[2] and n_base < 3:
        raise ValueError(f"TotalVariation needs an input with spatial dimensions; model '{model_name}' "
                         f"takes {problem.image_shape} vectors. Use tv_weight=0.")
    return np.array(list(base_weights[:n_base]) + ([diversity] if diversity else []), "float32")


def _chunk_inputs(targets, target_keys, start, end, chunk_size, n_channels, negative):
    """The keys and masks of targets ``start:end``, padded to the common chunk size so every chunk
    reuses the traced step."""
    pad = chunk_size - (end - start)
    chunk_targets = targets[start:end] + [targets[end - 1]] * pad
    keys = np.concatenate([target_keys[start:end], np.repeat(target_keys[end - 1:end], pad)])
    return keys, _masks(chunk_targets, n_channels) * (-1.0 if negative else 1.0)


def _step_listener(log, watchers, on_snapshot, due, start, live, chunk_number, steps):
    """``on_step`` for one chunk: log the step, call the callbacks, send a snapshot when one is
    due (``on_snapshot`` returning False stops the run). ``steps``: (per chunk, in all)."""
    per_chunk, total = steps

    def on_step(step):
        log.record_step(step, start, live)
        watchers.after_step(step, chunk_number, live)
        if on_snapshot is None or not due(step.step):
            return None
        log.show_best(keras.ops.convert_to_numpy(step.best_images), start, live)
        if on_snapshot(log.snapshot(chunk_number * per_chunk + step.step + 1, total)) is False:
            log.stopped = True
            return False
        return None

    return on_step


class _SnapshotPolicy:
    """When a live display gets a snapshot: after the first and the last step, every
    ``every`` steps, and at most once per ``seconds`` (building one copies and deprocesses
    every image, too costly for every fast step)."""

    def __init__(self, every, seconds, max_iter):
        self.every, self.seconds, self.max_iter = every, seconds, max_iter
        self.last = -np.inf

    def due(self, step_index):
        now = time.perf_counter()
        due = (step_index == 0 or step_index + 1 == self.max_iter
               or (self.every and (step_index + 1) % self.every == 0)
               or (self.seconds and now - self.last >= self.seconds))
        if due:
            self.last = now
        return due


class _Watchers:
    """keras-vis's callbacks on a batched run: each step's losses per image, the batch's
    gradients and images in the model's layout (fetched only when there are callbacks)."""

    def __init__(self, callbacks, problem, max_iter):
        self.callbacks, self.problem, self.max_iter = list(callbacks or []), problem, max_iter

    def after_step(self, step, chunk_number, live):
        if not self.callbacks:
            return
        named = [(name, step.terms[k, :live].copy()) for k, name in enumerate(self.problem.names)]
        grads = self.problem.to_model_format(keras.ops.convert_to_numpy(step.grads)[:live])
        images = self.problem.to_model_format(keras.ops.convert_to_numpy(step.images)[:live])
        for callback in self.callbacks:
            callback.callback(chunk_number * self.max_iter + step.step, named, step.total[:live].copy(), grads,
                              images)

    def end(self):
        for callback in self.callbacks:
            callback.on_end()


class _RunLog:
    """What a run over one or more chunks of targets has reached so far: the best images, the
    latest activations and losses, and the histories of finished chunks and the current one."""

    def __init__(self, n, display, input_range, started, recorder):
        self.n, self.display, self.input_range, self.started = n, display, input_range, started
        self.recorder = recorder  # frames for result.save_gif
        self.images = [None] * n
        self.raw = [None] * n
        self.attribution = [None] * n  # (H, W) per target, for MACO's alpha
        self.activations = np.full(n, np.nan, "float32")
        self.losses = np.full(n, np.nan, "float32")
        self.chunks = []  # (start, live, RunRecord) of finished chunks
        self.current = []  # activation rows of the chunk in progress
        self.current_span = (0, 0)
        self.stopped = False  # by on_snapshot returning False
        self.compile_seconds = 0.0

    def record_step(self, step, start, live):
        self.activations[start:start + live] = -step.terms[0, :live]
        self.losses[start:start + live] = step.total[:live]
        self.current.append(-step.terms[0, :live])
        self.current_span = (start, live)
        if self.recorder.due(step.step):
            best = keras.ops.convert_to_numpy(step.best_images)[:live]
            self.recorder.record(step.step, [self.display(image, self.input_range) for image in best], start,
                                 self.input_range)

    def discard_chunk(self, start, end):
        """Forget what a chunk that failed (out of memory) recorded: its steps' history and its
        frames, which its retry records again from step 0."""
        self.current = []
        self.recorder.forget(start, end)

    def show_best(self, best, start, live):
        for j in range(live):
            self.images[start + j] = self.display(best[j], self.input_range)

    def activation_history(self):
        steps = max([len(self.current)] + [r.steps for _, _, r in self.chunks])
        history = _stack_history(self.chunks, self.n, steps, "activation_history")
        if self.current:
            start, live = self.current_span
            history[:len(self.current), start:start + live] = np.array(self.current)
        return history

    def snapshot(self, step, total_steps):
        history = self.activation_history()
        return Snapshot(step=step, total_steps=total_steps, images=list(self.images),
                        activations=self.activations.copy(), losses=self.losses.copy(),
                        activation_history=history, dead=_dead(history),
                        seconds=time.perf_counter() - self.started)

    def finish_chunk(self, start, live, record):
        for j in range(live):
            self.raw[start + j] = record.best_images[j]
            self.images[start + j] = self.display(record.best_images[j], self.input_range)
            if record.attribution is not None:
                self.attribution[start + j] = record.attribution[j]
        self.chunks.append((start, live, record))
        if record.steps:  # a stopped chunk's last images, whatever step it stopped at
            self.recorder.record(record.steps - 1, self.images[start:start + live], start, self.input_range)
        self.compile_seconds += record.compile_seconds
        self.stopped = self.stopped or record.stopped
        self.current = []

    def result(self, problem, info, targets, labels, seed):
        done = [i for i in range(self.n) if self.raw[i] is not None]
        keep = np.array(done, dtype=int)
        steps = max((r.steps for _, _, r in self.chunks), default=0)

        def history(field, term=None):
            return _stack_history(self.chunks, self.n, steps, field, term)[:, keep]

        activation = history("activation_history")
        return ActMaxResult(
            images=np.stack([self.images[i] for i in done]) if done else np.zeros((0,) + problem.image_shape, "uint8"),
            raw_images=np.stack([self.raw[i] for i in done]) if done else np.zeros((0,) + problem.image_shape, "float32"),
            targets=[targets[i] for i in done], labels=[labels[i] for i in done], layer_name=info.name,
            loss_history=history("loss_history"), activation_history=activation,
            term_history={name: history("term_history", k) for k, name in enumerate(problem.names)},
            dead=_dead(activation), steps=steps, stopped=self.stopped, seed=seed,
            seconds=time.perf_counter() - self.started, compile_seconds=self.compile_seconds,
            precision=problem.precision, frames=[self.recorder.frames_of(i) for i in done],
            alpha=alpha_from_attribution([self.attribution[i] for i in done]),
        )


def _broadcast_seed(problem, seed_input, parameterization):
    if seed_input is None:
        return None
    seed = np.asarray(seed_input, "float32")
    if seed.ndim == len(problem.image_shape):
        seed = seed[None]
    if problem.channels_first:
        seed = np.moveaxis(seed, 1, -1)
    if seed.shape[1:] != tuple(problem.image_shape):
        raise ValueError(f"seed_input has image shape {seed.shape[1:]} (channels-last); this run "
                         f"optimizes images of shape {tuple(problem.image_shape)}: resize it or pass "
                         "image_size to match.")
    if not isinstance(parameterization, parameterizations.PixelImage):
        raise ValueError("seed_input works with param='pixel' only.")
    return seed[:1]


def _numbered_copies(targets):
    """Targets for keying: a repeated target becomes ``(target, k)`` from its second copy on, so
    copies start from different images (the first keeps the key it has alone)."""
    seen = {}
    numbered = []
    for target in targets:
        key = repr(target)
        seen[key] = seen.get(key, -1) + 1
        numbered.append(target if seen[key] == 0 else (target, seen[key]))
    return numbered


def _masks(targets, n_channels):
    masks = np.zeros((len(targets), n_channels), "float32")
    for row, target in enumerate(targets):
        for index in utils.listify(target):
            masks[row, index] = 1.0
    return masks


def _stack_history(histories, n, steps, field, term=None):
    out = np.full((steps, n), np.nan, "float32")
    for start, live, record in histories:
        values = getattr(record, field)
        values = values[:, term, :] if term is not None else values
        out[:len(values), start:start + live] = values[:, :live]
    return out


def _dead(activation_history):
    """A target whose activation never moved had a zero gradient from the start."""
    if len(activation_history) < 2:
        return np.zeros(activation_history.shape[1], bool)
    # Targets whose chunk has not started are all NaN (not dead): no "All-NaN slice" warning.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(activation_history, axis=0) - np.nanmin(activation_history, axis=0)
        scale = np.nanmax(np.abs(activation_history), axis=0)
    return np.nan_to_num(spread, nan=1.0) <= 1e-6 * (1.0 + np.nan_to_num(scale))
