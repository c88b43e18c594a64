"""Benchmark jobs, one per subprocess: ``python -m bench.jobs NAME '{"json": "kwargs"}'``.

Each job prints one line ``RESULT {...}`` (JSON) at the end; ``run.py`` collects them. A fresh
process per job keeps peak-memory readings (``ru_maxrss``) and first-call compile times honest.
"""
from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np

from bench import common

JOBS = {}


def job(function):
    JOBS[function.__name__] = function
    return function


def _filters(n, offset=0, n_channels=None):
    indices = [offset + i for i in range(n)]
    return [i % n_channels for i in indices] if n_channels else indices


# -- 1. side by side with tf-keras-vis ------------------------------------------------------------
def _ours(net, layer, filters, precision="float32"):
    """``run(steps, seed)``: one ``visualize_filters`` call, keras-vis's defaults; ``precision``
    is the core's opt-in ``visualize_filters(..., precision=...)``."""
    from actmax_widgets import visualize_filters

    def run(steps, seed):
        return visualize_filters(net, layer, filters, max_iter=steps, image_size=common.IMAGE_SIZE,
                                 batch_size=len(filters), seed=seed, precision=precision)

    return run


# The libraries (and settings) compared in §1: ours as shipped, ours with the opt-in bfloat16.
LIBS = {"ours": dict(), "ours_bf16": dict(precision="bfloat16"), "theirs": None}


def _runner(lib, net, layer, filters):
    return _theirs(net, layer, filters) if LIBS[lib] is None else _ours(net, layer, filters, **LIBS[lib])


def _theirs(net, layer, filters):
    """``run(steps, seed)``: one tf-keras-vis call, as its docs visualize conv filters; its
    defaults: Jitter(4) + Rotate2D(1) (scipy, on the host), TotalVariation2D(1) + Norm(0.3, p=1),
    RMSprop(1.0, 0.999). The model is cloned once, as a user keeps one visualizer."""
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    visualizer = ActivationMaximization(
        net, model_modifier=[ExtractIntermediateLayer(layer), ReplaceToLinear()], clone=True)
    score = CategoricalScore(filters)

    def run(steps, seed):
        # numpy, not tf.random.set_seed: a global seed change makes TensorFlow re-instantiate our
        # compiled step on its next call (+0.1–0.2 s), which would charge ours for their seeding.
        shape = (len(filters), common.IMAGE_SIZE, common.IMAGE_SIZE, 3)
        start = np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")
        return visualizer(score, seed_input=tf.constant(start), steps=steps)

    return run


@job
def side_by_side(model, lib, counts, steps=1):
    """One library alone in this process, for each filter count in ascending order: its first call
    (1 step: trace or clone included), a call of ``steps`` steps, then the process's peak RSS so
    far (a larger batch needs more memory, so that is this count's peak)."""
    net, layer = common.build_model(model)
    baseline = common.rss_mb()
    rows = []
    for n in sorted(counts):
        started = time.perf_counter()
        run = _runner(lib, net, layer, _filters(n))
        run(1, 1)
        first = time.perf_counter() - started
        t = time.perf_counter()
        run(steps, 2)
        rows.append({"n": n, "first_call_s": first, "step_s": (time.perf_counter() - t) / steps,
                     "peak_rss_mb": common.peak_rss_mb()})
    return {"model": model, "layer": layer, "lib": lib, "steps": steps, "baseline_rss_mb": baseline,
            "counts": rows, "load": common.load_average()}


@job
def side_by_side_pair(model, n, steps, rounds, libs=("ours", "ours_bf16", "theirs")):
    """The libraries (``LIBS``: ours in float32, ours with ``precision="bfloat16"``, tf-keras-vis)
    in one process, timed calls of ``steps`` steps alternated ``rounds`` times (the order reverses
    every round, so none always goes first), after a 1-step warm-up call each."""
    net, layer = common.build_model(model)
    filters = _filters(n)
    runs = {lib: _runner(lib, net, layer, filters) for lib in libs}
    for run in runs.values():
        run(1, 0)
    # The peaks of this job's own moment (a shared machine's capacity changes from job to job):
    # float32 matmul and bfloat16 conv (common.conv_peak), before and after the rounds.
    peaks = {"float32": [common.matmul_peak()], "bfloat16": [common.conv_peak("bfloat16")],
             "float32_conv": [common.conv_peak("float32")]}
    times = {lib: [] for lib in runs}
    for r in range(rounds):
        for lib in (libs if r % 2 == 0 else libs[::-1]):
            t = time.perf_counter()
            runs[lib](steps, r + 1)
            times[lib].append((time.perf_counter() - t) / steps)
    peaks["float32"].append(common.matmul_peak())
    peaks["bfloat16"].append(common.conv_peak("bfloat16"))
    peaks["float32_conv"].append(common.conv_peak("float32"))
    # Per round: theirs' step time / ours' (the speed ratio ours / theirs), for each of ours.
    ratios_by = {lib: [t_theirs / t_ours for t_ours, t_theirs in zip(times[lib], times["theirs"])]
                 for lib in runs if lib != "theirs"}
    return {"model": model, "layer": layer, "n": n, "steps": steps, "rounds": rounds,
            "flops_per_image_step": common.step_flops(net, layer),
            # What our step really computes (the target head's n channels of the layer).
            "computed_flops_per_image_step": common.step_flops(net, layer, target_channels=n),
            **_auto_precision(net, layer), "step_s": times,
            "ratios": ratios_by["ours"], "ratios_by": ratios_by,
            "peak_gflops": {k: [v / 1e9 for v in vs] for k, vs in peaks.items()}, "load": common.load_average()}


def _auto_precision(net, layer):
    """What ``precision="auto"`` computes in for this model and layer on this machine, and how many
    layers up to ``layer`` are slow in bfloat16 (depthwise / grouped convolutions)."""
    from actmax_widgets import precision
    from actmax_widgets.visualization import compiled_for

    compiled, _ = compiled_for(net, layer, image_size=common.IMAGE_SIZE, precision="auto")
    return {"auto_precision": compiled.problem.precision,
            "slow_layers": len(precision.bfloat16_slow_layers(compiled.problem.loss_model))}


# -- 2. one at a time (keras-vis's loop) vs batched -----------------------------------------------
@job
def one_at_a_time(model, n, steps):
    from actmax_widgets import visualize_activation, visualize_filters

    net, layer = common.build_model(model)
    filters = _filters(n)
    out = {"model": model, "layer": layer, "n": n, "steps": steps}

    # keras-vis's pattern: visualize_activation per filter (a new Problem, so a new trace, per call).
    calls = []
    for f in filters:
        t = time.perf_counter()
        visualize_activation(net, layer, filter_indices=[f], max_iter=steps, seed=f)
        calls.append(time.perf_counter() - t)
    out["activation_loop_calls_s"] = calls
    out["activation_loop_rss_mb"] = common.rss_mb()

    # A loop of visualize_filters with one filter each: compiled once, cached after.
    calls = []
    compile_s = []
    for f in filters:
        t = time.perf_counter()
        r = visualize_filters(net, layer, [f], max_iter=steps, image_size=common.IMAGE_SIZE, batch_size=1, seed=f)
        calls.append(time.perf_counter() - t)
        compile_s.append(r.compile_seconds)
    out["filters_loop_calls_s"] = calls
    out["filters_loop_compile_s"] = compile_s

    # One batched call (first call compiles; the second is the steady state).
    calls = []
    compile_s = []
    for seed in (0, 1):
        t = time.perf_counter()
        r = visualize_filters(net, layer, filters, max_iter=steps, image_size=common.IMAGE_SIZE,
                              batch_size=n, seed=seed)
        calls.append(time.perf_counter() - t)
        compile_s.append(r.compile_seconds)
    out["batched_calls_s"] = calls
    out["batched_compile_s"] = compile_s
    out["peak_rss_mb"] = common.peak_rss_mb()
    out["load"] = common.load_average()
    return out


# -- 3. fraction of the matmul peak ----------------------------------------------------------------
def _timed_run(compiled, n, steps, n_channels, seed=0, offset=0):
    """Per-step seconds of ``CompiledOptimizer.run`` (host loop included), from step timestamps."""
    from actmax_widgets.sample_random import sample_keys
    from actmax_widgets.visualization import _masks

    filters = _filters(n, offset, n_channels)
    stamps = []
    started = time.perf_counter()
    compiled.run(sample_keys(seed, filters), _masks(filters, n_channels), max_iter=steps,
                 on_step=lambda step: stamps.append(time.perf_counter()))
    return np.diff([started] + stamps)


@job
def peak_fraction(model, n, steps, rounds):
    """Matmul peak and our step, alternated ``rounds`` times in one process."""
    from actmax_widgets.visualization import compiled_for

    net, layer = common.build_model(model)
    compiled, info = compiled_for(net, layer, image_size=common.IMAGE_SIZE)
    # What the step computes: with a target head, the layer's targeted channels only.
    computed = n if any(compiled.problem.heads) else None
    flops = common.step_flops(net, layer, computed) * n
    _timed_run(compiled, n, 2, info.n_filters)  # trace
    peaks, bursts = [common.matmul_peak()], []
    for r in range(rounds):
        bursts.append(_timed_run(compiled, n, steps, info.n_filters, seed=r + 1).tolist())
        peaks.append(common.matmul_peak())
    bf16_peak = common.matmul_peak(dtype="bfloat16")
    bf16_conv = common.conv_peak("bfloat16")
    f32_conv = common.conv_peak("float32")
    # Each burst against the peak measured just before and after it: both saw the same load.
    fractions = [flops / float(np.median(burst)) / ((before + after) / 2)
                 for burst, before, after in zip(bursts, peaks, peaks[1:])]
    steps_s = [t for burst in bursts for t in burst]
    return {
        "model": model, "layer": layer, "n": n, "steps": steps, "rounds": rounds,
        "matmul_gflops": [p / 1e9 for p in peaks], "bf16_matmul_gflops": bf16_peak / 1e9,
        "bf16_conv_gflops": bf16_conv / 1e9, "float32_conv_gflops": f32_conv / 1e9, "step_s": steps_s,
        "flops_per_step": flops, "forward_flops_per_image": common.conv_flops(net, layer, computed),
        "full_layer_flops_per_step": common.step_flops(net, layer) * n, "target_head": computed is not None,
        "gflops_best": flops / min(steps_s) / 1e9, "gflops_median": flops / float(np.median(steps_s)) / 1e9,
        "fractions": fractions, "fraction_median": float(np.median(fractions)),
        "fraction_best": flops / min(steps_s) / max(peaks), "load": common.load_average(),
    }


# -- 4. widget latency (core level, worker thread) -------------------------------------------------
def _threaded_run(net, layer, filters, stop_after=None, **options):
    from actmax_widgets import visualize_filters

    stop = threading.Event()
    stamps, holder = [], {}
    started = time.perf_counter()

    def on_snapshot(snapshot):
        stamps.append(time.perf_counter() - started)
        if stop_after is not None and len(stamps) == stop_after:
            holder["stop_at"] = time.perf_counter()
            stop.set()

    def work():
        holder["result"] = visualize_filters(net, layer, filters, on_snapshot=on_snapshot, stop_event=stop,
                                             **options)
        holder["ended"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    joined = time.perf_counter()
    result = holder["result"]
    out = {"first_snapshot_s": stamps[0] if stamps else None, "snapshots": len(stamps),
           "seconds": result.seconds, "compile_s": result.compile_seconds, "steps": result.steps,
           "stopped": result.stopped}
    if len(stamps) > 1:
        out["snapshots_per_s"] = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    if "stop_at" in holder:
        out["stop_to_join_s"] = joined - holder["stop_at"]
    return out


@job
def widget_latency(model, n, steps, snapshot_every, image_size, stops):
    from actmax_widgets import Recipe, input_modifiers

    net, layer = common.build_model(model)
    # The widget's "quick preview" settings.
    options = dict(max_iter=steps, image_size=image_size, batch_size=n, snapshot_every=snapshot_every,
                   recipe=Recipe(transforms=(input_modifiers.Jitter(0.05),), tv_weight=0.3, lp_norm_weight=0.0))
    first = _threaded_run(net, layer, _filters(n), **options)
    rerun = _threaded_run(net, layer, _filters(n, offset=n), **options)
    stopped = [_threaded_run(net, layer, _filters(n, offset=2 * n + k), stop_after=2, **options)
               for k in range(stops)]
    return {"model": model, "layer": layer, "n": n, "steps": steps, "image_size": image_size,
            "snapshot_every": snapshot_every, "first": first, "rerun": rerun, "stopped": stopped,
            "load": common.load_average()}


# -- 5. scaling ------------------------------------------------------------------------------------
@job
def scaling(model, counts, sizes, steps, count_size, size_count, rounds=2):
    """Per-step time vs the number of filters (at ``count_size`` px) and vs image size; every
    point traced and warmed up first, then timed in ``rounds`` (each point once per round)."""
    from actmax_widgets.visualization import compiled_for

    net, layer = common.build_model(model)
    points = []
    for n in counts:
        compiled, info = compiled_for(net, layer, image_size=count_size)
        points.append({"kind": "count", "n": n, "size": count_size, "compiled": compiled, "info": info,
                       "flops_per_step": common.step_flops(net, layer) * n})
    for size in sizes:
        compiled, info = compiled_for(net, layer, image_size=size)
        sized, _ = common.build_model(model, size)
        points.append({"kind": "size", "n": size_count, "size": size, "compiled": compiled, "info": info,
                       "flops_per_step": common.step_flops(sized, layer) * size_count})
    for p in points:
        _timed_run(p["compiled"], p["n"], 1, p["info"].n_filters)
        p["times"] = []
    for r in range(rounds):
        for p in points:
            p["times"] += _timed_run(p["compiled"], p["n"], steps, p["info"].n_filters, seed=r + 1).tolist()
    rows = [{"kind": p["kind"], "n": p["n"], "size": p["size"], "step_s": float(np.median(p["times"])),
             "best_s": float(np.min(p["times"])), "flops_per_step": p["flops_per_step"]} for p in points]
    return {"model": model, "layer": layer, "steps": steps, "rounds": rounds, "count_size": count_size,
            "size_count": size_count, "by_count": [r for r in rows if r["kind"] == "count"],
            "by_size": [r for r in rows if r["kind"] == "size"], "load": common.load_average()}


# -- 6. memory over consecutive runs ---------------------------------------------------------------
@job
def memory_runs(model, n, steps, runs):
    import gc

    from actmax_widgets import visualize_filters

    net, layer = common.build_model(model)
    n_channels = net.get_layer(layer).output.shape[-1]
    rss, seconds = [], []
    for k in range(runs):
        t = time.perf_counter()
        visualize_filters(net, layer, _filters(n, offset=k * n, n_channels=n_channels), max_iter=steps,
                          image_size=common.IMAGE_SIZE, batch_size=n, seed=k)
        seconds.append(time.perf_counter() - t)
        gc.collect()
        rss.append(common.rss_mb())
    return {"model": model, "layer": layer, "n": n, "steps": steps, "runs": runs, "rss_mb": rss,
            "seconds": seconds, "load": common.load_average()}


QUALITY_STYLE = "fourier"  # the widget's and the CLI's default style


# -- 7. variants: bfloat16, XLA, candidate speed-ups, threading, oneDNN ---------------------------
@job
def variants(model, n, steps, settings, rounds=2, intra=None, inter=None):
    """Our step under each setting, in one process. A setting: ``label``, and optionally
    ``precision`` (the core's ``compiled_for(..., precision=...)``, as ``visualize_filters`` uses
    it), ``jit``, ``no_fold`` / ``no_head`` (the core without its BatchNorm folding / target
    head), ``steps`` (per round, overriding the job's), ``file`` (the image grid's name stem),
    ``quality`` (steps of a ``visualize_filters`` run in ``QUALITY_STYLE`` with the setting's
    precision, whose images the float32 model judges: the mean activation of each image's own
    filter). Timing: ``rounds`` × ``steps`` steps per setting."""
    import tensorflow as tf

    if intra is not None:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter is not None:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras

    from actmax_widgets import render, visualize_filters
    from actmax_widgets.visualization import compiled_for

    reference, layer = common.build_model(model)
    probe = keras.Model(reference.inputs, reference.get_layer(layer).output)
    flops = common.step_flops(reference, layer) * n
    out = {"model": model, "layer": layer, "n": n, "steps": steps, "rounds": rounds, "intra": intra, "inter": inter,
           "flops_per_step": flops, "settings": []}
    prepared = []
    for setting in settings:
        net, _ = common.build_model(model)
        common.copy_weights(reference, net)
        row = dict(setting)
        compiled, info = compiled_for(net, layer, image_size=common.IMAGE_SIZE, jit_compile=setting.get("jit", False),
                                      precision=setting.get("precision", "float32"),
                                      fold_batchnorm=not setting.get("no_fold"),
                                      target_channels_only=not setting.get("no_head"))
        t = time.perf_counter()
        _timed_run(compiled, n, 1, info.n_filters)
        row["compile_s"] = time.perf_counter() - t
        _timed_run(compiled, n, 1, info.n_filters, seed=5)  # oneDNN creates some primitives late
        if setting.get("quality"):
            # The images a user gets: the default style, this precision, judged by float32.
            filters = _filters(n)
            made = visualize_filters(net, layer, filters, max_iter=setting["quality"], image_size=common.IMAGE_SIZE,
                                     seed=3, style=QUALITY_STYLE, precision=setting.get("precision", "float32"))
            acts = probe(made.raw_images, training=False).numpy().mean(axis=(1, 2))
            row["float32_activation"] = acts[np.arange(n), filters].tolist()
            images = list(made.images)
            stem = "".join(c if c.isalnum() else "_" for c in setting.get("file", setting["label"]))
            path = common.HERE / f"variant_{model}_{stem}.png"
            render.save_png(render.labelled_grid(images, [str(f) for f in filters], cols=8), path)
            row["images_path"] = path.name
        row["step_times"] = []
        prepared.append((row, compiled, info))
    # Time in rounds, every setting once per round, so a change of load hits all alike.
    for round_ in range(rounds):
        for row, compiled, info in prepared:
            row["step_times"] += _timed_run(compiled, n, row.get("steps", steps), info.n_filters,
                                            seed=1 + round_).tolist()
    for row, _, _ in prepared:
        median = float(np.median(row["step_times"]))
        row.update(step_s=median, best_s=float(np.min(row["step_times"])), gflops_median=flops / median / 1e9)
        out["settings"].append(row)
    out["load"] = common.load_average()
    return out


# -- 7b. precision="auto": the rule, checked on more architectures --------------------------------
# Mid-depth layers of keras.applications nets (weights=None: speed does not depend on them).
RULE_MODELS = {"ResNet50": "conv3_block4_out", "DenseNet121": "conv3_block6_concat",
               "MobileNetV2": "block_6_expand_relu"}


@job
def precision_rule(n, steps, rounds=2):
    """For each of ``RULE_MODELS``: our step in float32 and in bfloat16 (one process, each timed
    ``rounds`` × ``steps`` alternately), and what ``precision="auto"`` picks, so the rule in
    ``actmax_widgets.precision`` can be checked against the speed-up it stands for."""
    import keras

    from actmax_widgets.visualization import compiled_for

    out = {"n": n, "steps": steps, "rounds": rounds, "models": []}
    for name, layer in RULE_MODELS.items():
        net = getattr(keras.applications, name)(weights=None, include_top=False,
                                                input_shape=(common.IMAGE_SIZE, common.IMAGE_SIZE, 3))
        runs = {computed_in: compiled_for(net, layer, image_size=common.IMAGE_SIZE, precision=computed_in)
                for computed_in in ("float32", "bfloat16")}
        row = {"model": name, "layer": layer, **_auto_precision(net, layer)}
        times = {p: [] for p in runs}
        for compiled, info in runs.values():
            _timed_run(compiled, n, 1, info.n_filters)  # trace
        for r in range(rounds):
            for p, (compiled, info) in runs.items():
                times[p] += _timed_run(compiled, n, steps, info.n_filters, seed=1 + r).tolist()
        row["step_s"] = {p: float(np.median(t)) for p, t in times.items()}
        out["models"].append(row)
        keras.backend.clear_session()
    out["load"] = common.load_average()
    return out


# -- profile: where the step's time goes -----------------------------------------------------------
@job
def profile(model, n, steps):
    """Time the step's parts, each once per round for ``steps`` rounds: forward only, forward +
    input gradient, + regularizers, the whole compiled step called bare, and per step of the host
    loop (``CompiledOptimizer.run``, 2 steps) and of ``visualize_filters`` (3 steps a call)."""
    import keras
    import tensorflow as tf

    from actmax_widgets import visualize_filters
    from actmax_widgets.sample_random import sample_keys
    from actmax_widgets.target_head import head_channels
    from actmax_widgets.visualization import _masks, compiled_for

    net, layer = common.build_model(model)
    compiled, info = compiled_for(net, layer, image_size=common.IMAGE_SIZE)
    filters = _filters(n)
    cut = keras.Model(net.inputs, net.get_layer(layer).output)
    x = tf.Variable(tf.random.uniform((n, common.IMAGE_SIZE, common.IMAGE_SIZE, 3), 0, 255))

    @tf.function
    def forward():
        return tf.reduce_sum(cut(x, training=False))

    @tf.function
    def forward_grad():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(cut(x, training=False))
        return tape.gradient(y, x)

    @tf.function
    def losses_grad():
        with tf.GradientTape() as tape:
            outputs = compiled.problem.loss_model(x, training=False)
            y = tf.add_n([tf.reduce_sum(o) for o in outputs])
        return tape.gradient(y, x)

    _timed_run(compiled, n, 1, info.n_filters)
    state = compiled._states[n]
    masks = tf.constant(_masks(filters, info.n_filters))
    weights = tf.constant(compiled.problem.default_weights)
    keys = tf.constant(sample_keys(0, filters))
    no_warmup = tf.constant(0, tf.int64)
    channels = tf.constant(head_channels(masks.numpy(), n) if any(compiled.problem.heads) else np.zeros(1, np.int32))

    def bare_step():
        terms, total, grads, images = state.step(masks, weights, keys, tf.constant(0, tf.int64), no_warmup, channels)
        return total

    def once(fn):
        def timed():
            t = time.perf_counter()
            fn().numpy()
            return time.perf_counter() - t
        return timed

    def per_step_of_visualize_filters(k=3):
        t = time.perf_counter()
        visualize_filters(net, layer, filters, max_iter=k, image_size=common.IMAGE_SIZE, batch_size=n, seed=2)
        return (time.perf_counter() - t) / k

    parts = {
        "forward": once(forward), "forward_input_grad": once(forward_grad),
        "loss_model_input_grad": once(losses_grad), "compiled_step": once(bare_step),
        "engine_run_per_step": lambda: float(np.median(_timed_run(compiled, n, 2, info.n_filters, seed=1))),
        "visualize_filters_per_step": per_step_of_visualize_filters,
    }
    for part in parts.values():  # trace / warm up
        part()
    # Every part once per round, so a change of load hits all alike.
    times = {name: [] for name in parts}
    for _ in range(steps):
        for name, part in parts.items():
            times[name].append(part())
    parts = {name: (float(np.median(t)), float(np.min(t))) for name, t in times.items()}

    # tf.profiler's per-op breakdown of a few bare steps.
    ops = _op_profile(bare_step, repeats=3)
    flops = common.step_flops(net, layer) * n
    return {"model": model, "layer": layer, "n": n, "steps": steps, "parts": parts, "ops": ops,
            "flops_per_step": flops, "forward_flops": common.conv_flops(net, layer) * n,
            "load": common.load_average()}


def _op_profile(fn, repeats):
    """Milliseconds per call spent in each TF op type (executor threads), from tf.profiler."""
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="actmax_profile_")
    tf.profiler.experimental.start(logdir)
    for _ in range(repeats):
        fn()
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    for path in glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True):
        with open(path, "rb") as handle:
            space.ParseFromString(handle.read())
    totals = {}
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:  # executor bookkeeping, not an op
                    continue
                op_type = name.rsplit(":", 1)[1]
                totals[op_type] = totals.get(op_type, 0.0) + event.duration_ps / 1e9 / repeats
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])[:15])


def main(argv):
    name, kwargs = argv[1], json.loads(argv[2]) if len(argv) > 2 else {}
    result = JOBS[name](**kwargs)
    result["job"] = name
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
