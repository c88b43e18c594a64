"""The GPU path measured, on whichever Keras backend has a CUDA build here (JAX, else PyTorch).

Run by ``bash bench/gpu.sh`` (which installs the package, Keras and their small pure-Python needs
from carried wheels first); writes ``bench/GPU.md``, ``bench/gpu_results.json`` and, where a GPU
was seen, ``actmax_widgets/data/gpu_precision.json`` (what ``precision="auto"`` reads).

Sections, in the order they run (GPU.md is rewritten after each, so a timeout keeps what ran; a
time budget skips the grid's configurations that no longer fit, and says so): the device and its
measured matmul peak; the goal job (a whole 512-channel layer at 224 px, 256 steps); host
transfers per step (the backend's profiler); the largest batch that fits, found by an
out-of-memory that shrinks the chunk (the warning kept); filter-steps/s in float32 and bfloat16
on VGG16 ``block3_conv3`` and EfficientNet-Lite0 at 224 and 128 px, 16 to 512 filters.
``--smoke``: tiny sizes, a simulated out-of-memory: a rehearsal on CPU (figures meaningless).
No TensorFlow is needed; the file runs on its own (``python bench/gpu_bench.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASHEET_BF16_PEAK = 989e12  # H100/H200 SXM dense bf16, vendor datasheet (no sparsity)
GOAL_SECONDS = 10.0

FULL = dict(sizes=(224, 128), filters=(512, 16, 128), steps=32, goal=(224, 512, 256), oom_start=8192,
            matmul=8192)
SMOKE = dict(sizes=(32,), filters=(4, 2), steps=2, goal=(32, 8, 3), oom_start=8, matmul=256)


def choose_backend():
    """``(backend, gpu_seen)``: KERAS_BACKEND if set; else JAX if it sees a GPU, else PyTorch if
    CUDA is available, else JAX (or PyTorch) on the CPU for a rehearsal. Runs before Keras loads."""
    wanted = os.environ.get("KERAS_BACKEND")
    probes = [("jax", _jax_has_gpu), ("torch", _torch_has_gpu)]
    for name, probe in probes:
        if wanted in (None, name):
            seen = probe()
            if seen is not None and (seen or wanted == name):
                return name, seen
    for name, probe in probes:
        if probe() is not None and wanted in (None, name):
            return name, False
    return wanted or "tensorflow", False


def _jax_has_gpu():
    try:
        import jax
    except ImportError:
        return None
    return jax.default_backend() == "gpu"


def _torch_has_gpu():
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.is_available()


def describe_device(backend):
    """The device in words, its memory, and the library versions."""
    import keras

    import actmax_widgets

    info = {"backend": backend, "keras": keras.__version__, "python": platform.python_version(),
            "actmax_widgets": getattr(actmax_widgets, "__version__", "?"), "device": "CPU", "memory_gb": None}
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        info["library"] = f"jax {jax.__version__}"
        if device.platform != "cpu":
            info["device"] = f"{device.platform.upper()}: {device.device_kind}"
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        info["memory_gb"] = round(stats["bytes_limit"] / 1e9, 1) if stats and "bytes_limit" in stats else None
    elif backend == "torch":
        import torch

        info["library"] = f"torch {torch.__version__}"
        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            info.update(device=f"GPU: {properties.name}", memory_gb=round(properties.total_memory / 1e9, 1))
    else:
        import tensorflow as tf

        info["library"] = f"tensorflow {tf.__version__}"
    if info["device"] == "CPU":
        info["device"] = f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return info


def matmul_rate(dtype, n, repeats=10):
    """FLOP/s of ``n``³ matrix products in ``dtype`` through ``keras.ops`` (after a warm-up)."""
    import keras
    from keras import ops

    a = ops.cast(keras.random.normal((n, n), seed=1), dtype)
    b = ops.cast(keras.random.normal((n, n), seed=2), dtype)
    ops.convert_to_numpy(ops.sum(ops.cast(ops.matmul(a, b)[:1, :1], "float32")))
    started = time.perf_counter()
    for _ in range(repeats):
        c = ops.matmul(a, b)
    ops.convert_to_numpy(ops.sum(ops.cast(c[:1, :1], "float32")))  # waits for the queue to drain
    return 2.0 * n ** 3 * repeats / (time.perf_counter() - started)


class Models:
    """The benchmark's models, built once per size: VGG16 (random weights: speed does not depend
    on them) and the embedded EfficientNet-Lite0 (its default layer, block4c_activation)."""

    def __init__(self):
        self.built = {}

    def get(self, name, size):
        if (name, size) not in self.built:
            self.built[name, size] = self._build(name, size)
        return self.built[name, size]

    @staticmethod
    def _build(name, size):
        import keras

        from actmax_widgets import catalogue, models

        if name == "vgg16":
            model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
            return model, "block3_conv3"
        model = models.efficientnet_lite0(input_shape=(size, size, 3), include_top=False)
        return model, catalogue.default_layer(model).name


def filters_of(model, layer, n):
    """``n`` targets of ``layer``: its channels in order, repeated past its width (Lite0: 480)."""
    channels = model.get_layer(layer).output.shape[-1]
    return [i % channels for i in range(n)]


def timed_run(model, layer, n, steps, precision, batch_size=None):
    """One warm-up call (compiles the step for this batch size), then a timed call of ``steps``
    steps: seconds of the timed call, its compile time (≈ 0 when nothing was traced), and the
    warm-up's wall time."""
    from actmax_widgets import visualize_filters

    options = dict(seed=0, precision=precision, batch_size=batch_size or n)
    started = time.perf_counter()
    visualize_filters(model, layer, filters_of(model, layer, n), max_iter=1, **options)
    first = time.perf_counter() - started
    started = time.perf_counter()
    result = visualize_filters(model, layer, filters_of(model, layer, n), max_iter=steps, **options)
    seconds = time.perf_counter() - started
    return dict(seconds=seconds, first_call_seconds=first, compile_seconds=result.compile_seconds,
                precision=result.precision, filter_steps_per_s=n * steps / seconds)


# -- host transfers per step ------------------------------------------------------------------------
# Trace event names (lower case) that count, per backend: device<->host copies, and what shows
# the step is one compiled call (JAX: one jitted dispatch) or a host read of a device value.
COUNTED = {
    "jax": {"device-to-host copies": ("memcpyd2h", "memcpy dtoh"), "host-to-device copies": ("memcpyh2d", "memcpy htod"),
            "jitted calls": ("pjitfunction",), "host reads (np.asarray)": ("np.asarray(jax.array)",)},
    "torch": {"device-to-host copies": ("memcpy dtoh",), "host-to-device copies": ("memcpy htod",),
              "host syncs (.item)": ("aten::_local_scalar_dense",)},
}


def transfers_per_step(backend, model, layer, n, steps):
    """Each counted trace event per step: runs of ``steps`` and ``3 * steps`` steps traced, the
    difference divided by ``2 * steps`` (a run's fixed costs, the start images and the final
    read-out, cancel)."""
    from actmax_widgets import visualize_filters

    if backend not in COUNTED:
        return {"error": f"no trace reader for {backend}"}

    def run(k):
        visualize_filters(model, layer, filters_of(model, layer, n), max_iter=k, seed=0, batch_size=n)

    run(1)  # compiled before tracing
    short, long = (_trace_counts(backend, lambda k=k: run(k)) for k in (steps, 3 * steps))
    return {what: (long[what] - short[what]) / (2 * steps) for what in COUNTED[backend]}


def _trace_counts(backend, function):
    names = _jax_trace(function) if backend == "jax" else _torch_trace(function)
    return {what: sum(count for name, count in names.items() if any(m in name.lower() for m in markers))
            for what, markers in COUNTED[backend].items()}


def _jax_trace(function):
    """Event name -> count in a JAX profiler trace (perfetto JSON) of ``function()``."""
    import glob
    import gzip
    import tempfile

    import jax

    folder = tempfile.mkdtemp(prefix="actmax_trace_")
    jax.profiler.start_trace(folder, create_perfetto_trace=True)
    try:
        function()
    finally:
        jax.profiler.stop_trace()
    path = glob.glob(f"{folder}/**/perfetto_trace.json.gz", recursive=True)[0]
    with gzip.open(path) as handle:
        data = json.load(handle)
    names = {}
    for event in data["traceEvents"] if isinstance(data, dict) else data:
        names[event.get("name", "")] = names.get(event.get("name", ""), 0) + 1
    return names


def _torch_trace(function):
    """Event name -> count in a PyTorch profiler trace of ``function()`` (CPU and CUDA)."""
    import torch

    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profile:
        function()
    return {event.key: event.count for event in profile.key_averages()}


# -- throughput, the goal job, the largest batch ------------------------------------------------------
def grid(models, plan, budget, peak):
    """filter-steps/s and useful TFLOP/s per (model, size, filters, precision), float32 and
    bfloat16 of one configuration measured back to back; configurations past the budget skipped."""
    step_flops = _step_flops()
    rows = []
    for size in plan["sizes"]:
        for name in ("vgg16", "lite0"):
            model, layer = models.get(name, size)
            per_image = step_flops(model, layer)
            for n in plan["filters"]:
                for precision in ("float32", "bfloat16"):
                    row = dict(model=name, layer=layer, size=size, filters=n, precision=precision)
                    if budget.left() < 20:
                        rows.append(dict(row, skipped="time budget"))
                        continue
                    row.update(_guarded(timed_run, model, layer, n, plan["steps"], precision))
                    if "seconds" in row:
                        rate = per_image * n * plan["steps"] / row["seconds"]
                        row.update(tflops=rate / 1e12, of_bf16_peak=rate / peak)
                    rows.append(row)
    return rows


def goal_job(models, plan, precision):
    """The goal: every channel of a 512-channel layer (VGG16 block5_conv3) at ``size`` px,
    ``steps`` steps, one batch; the first call (compiling) and a second, warm one."""
    size, n, steps = plan["goal"]
    model, _ = models.get("vgg16", size)
    row = dict(layer="block5_conv3", size=size, filters=n, steps=steps, precision=precision)
    row.update(_guarded(timed_run, model, "block5_conv3", n, steps, precision))
    return row


def largest_batch(models, plan, simulate):
    """Ask for ``oom_start`` images of VGG16 block3_conv3 at the largest size in one batch (2
    steps): each out-of-memory halves the chunk; the chunk size that ran is the largest batch
    that fits (within a factor 2), and the run's one OutOfMemoryWarning is kept."""
    from actmax_widgets import engine, visualize_filters
    from actmax_widgets.out_of_memory import OutOfMemoryWarning

    size, n = max(plan["sizes"]), plan["oom_start"]
    model, layer = models.get("vgg16", size)
    real_run, calls = engine.CompiledOptimizer.run, []

    def run(self, keys, *args, **kwargs):  # records each chunk size; a rehearsal simulates the OOM
        calls.append(len(keys))
        if simulate and len(keys) > max(1, n // 4):
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate (simulated)")
        return real_run(self, keys, *args, **kwargs)

    engine.CompiledOptimizer.run = run
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started = time.perf_counter()
            result = _guarded(visualize_filters, model, layer, filters_of(model, layer, n), max_iter=2,
                              seed=0, batch_size=n)
    finally:
        engine.CompiledOptimizer.run = real_run
    shown = [str(w.message) for w in caught if issubclass(w.category, OutOfMemoryWarning)]
    return dict(size=size, asked=n, chunk_sizes_tried=sorted(set(calls), reverse=True), simulated=simulate,
                largest_that_ran=min(calls) if calls else None, warnings=shown,
                seconds=time.perf_counter() - started,
                images_kept=None if isinstance(result, dict) else len(result.images),
                error=result.get("error") if isinstance(result, dict) else None)


def _guarded(function, *args, **kwargs):
    """``function``'s result, or ``{'error': ...}``: one failing measurement does not end the run."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - recorded in GPU.md
        return {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}"}


def _step_flops():
    """``bench/flops.step_flops``, imported once Keras's backend is chosen (it imports Keras)."""
    try:
        from bench.flops import step_flops
    except ImportError:  # run as a file (bench/gpu.sh): this folder is on sys.path
        from flops import step_flops
    return step_flops


class Budget:
    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds

    def left(self):
        return self.end - time.perf_counter()


# -- what is written -----------------------------------------------------------------------------
def bfloat16_speedups(rows):
    """bfloat16's speed-up over float32 per kind of model: the median over configurations measured
    in both of float32 seconds / bfloat16 seconds ('plain': VGG16; 'depthwise': Lite0)."""
    import numpy as np

    timed = {(r["model"], r["size"], r["filters"], r["precision"]): r["seconds"] for r in rows if "seconds" in r}
    out = {}
    for kind, model in (("plain", "vgg16"), ("depthwise", "lite0")):
        ratios = [seconds / timed[key[:3] + ("bfloat16",)] for key, seconds in timed.items()
                  if key[0] == model and key[3] == "float32" and key[:3] + ("bfloat16",) in timed]
        if ratios:
            out[kind] = round(float(np.median(ratios)), 3)
    return out


def write_precision_rule(results, path):
    """``precision="auto"``'s input: this backend's speed-ups merged into the file (other backends'
    measurements kept)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("bfloat16_speedup", {})[results["device"]["backend"]] = results["bfloat16_speedup"]
    data.setdefault("measured_on", {})[results["device"]["backend"]] = {
        "device": results["device"]["device"], "date": results["date"], "command": "bash bench/gpu.sh"}
    path.write_text(json.dumps(data, indent=1) + "\n")


def _cell(value, digits=2):
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(results, note):
    """GPU.md's text from ``results``."""
    device, lines = results["device"], ["# The GPU path, measured (`bash bench/gpu.sh`)", ""]
    if note:
        lines += [note, ""]
    if not results["gpu_seen"]:
        lines += ["**No GPU was visible to this run**: it is a rehearsal of the script on the CPU, with tiny "
                  "sizes; its figures say nothing about a GPU.", ""]
    lines += [f"- Run {results['date']} (`{results['command']}`), {results['seconds']:.0f} s in all",
              f"- Device: {device['device']}" + (f", {device['memory_gb']} GB" if device.get("memory_gb") else ""),
              f"- Backend: {device['backend']} ({device.get('library', '?')}), Keras {device['keras']}, "
              f"Python {device['python']}",
              f"- Matrix product peak measured here ({results['matmul_n']}³): bfloat16 "
              f"{results['peak']['bfloat16'] / 1e12:.3g} TFLOP/s, float32 {results['peak']['float32'] / 1e12:.3g} "
              f"TFLOP/s; datasheet dense bfloat16 (H100/H200 SXM) {DATASHEET_BF16_PEAK / 1e12:.0f} TFLOP/s. "
              "'% of bf16 peak' below is of the measured bfloat16 product.", ""]
    lines += _goal_lines(results["goal"]) if "goal" in results else []
    lines += _transfer_lines(results["transfers"]) if "transfers" in results else []
    lines += _oom_lines(results["largest_batch"]) if "largest_batch" in results else []
    lines += _grid_lines(results) if "grid" in results else ["## Not run yet (time ran out): the throughput grid", ""]
    return "\n".join(lines) + "\n"


def _goal_lines(goals):
    lines = ["## The goal job: a whole 512-channel layer (VGG16 `block5_conv3`) at 224 px, 256 steps", "",
             f"Target: under {GOAL_SECONDS:.0f} s on one H100-class GPU.", "",
             "| precision | size | filters | steps | warm run (s) | first call (s, compiles) | filter-steps/s | met |",
             "|---|---|---|---|---|---|---|---|"]
    for row in goals:
        if "error" in row:
            lines.append(f"| {row['precision']} | {row['size']} | {row['filters']} | {row['steps']} | "
                         f"failed: {row['error']} | | | |")
            continue
        lines.append(f"| {row['precision']} | {row['size']} | {row['filters']} | {row['steps']} | "
                     f"{row['seconds']:.2f} | {row['first_call_seconds']:.1f} | {row['filter_steps_per_s']:.0f} | "
                     f"{'yes' if row['seconds'] < GOAL_SECONDS else 'no'} |")
    return lines + [""]


def _transfer_lines(transfers):
    lines = ["## Host transfers per step (the backend's profiler; a run of S and of 3S steps, difference / 2S)", ""]
    if "error" in transfers:
        return lines + [f"Not measured: {transfers['error']}", ""]
    lines += ["| per step | count |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in transfers.items()]
    return lines + ["", "Expected: one compiled call per step and the history read-out (each step's losses and "
                        "activations, a few small arrays); no image, gradient or weight copies.", ""]


def _grid_lines(results):
    lines = ["## filter-steps/s, float32 vs bfloat16 (keras-vis's defaults, "
             f"{results['plan']['steps']} steps after a warm-up call)", "",
             "| model | layer | px | filters | precision | filter-steps/s | useful TFLOP/s | % of bf16 peak | "
             "first call (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results["grid"]:
        head = f"| {r['model']} | `{r['layer']}` | {r['size']} | {r['filters']} | {r['precision']} |"
        if "seconds" not in r:
            lines.append(f"{head} {r.get('skipped') or r.get('error')} | | | |")
            continue
        lines.append(f"{head} {r['filter_steps_per_s']:.0f} | {r['tflops']:.3g} | {100 * r['of_bf16_peak']:.1f} | "
                     f"{r['first_call_seconds']:.1f} |")
    speedups = results["bfloat16_speedup"]
    lines += ["", "bfloat16 ÷ float32 speed (median over the sizes and filter counts): "
              + (", ".join(f"{k} {v:.2f}×" for k, v in speedups.items()) or "none measured")
              + ". `precision=\"auto\"` reads these from `actmax_widgets/data/gpu_precision.json` "
              "(written only when a GPU was seen).", ""]
    return lines


def _oom_lines(row):
    lines = ["## The largest batch that fits, and an out-of-memory retry", ""]
    lines.append(f"Asked for {row['asked']} images of VGG16 `block3_conv3` at {row['size']} px in one batch "
                 f"(2 steps){' — out-of-memory **simulated** (rehearsal)' if row['simulated'] else ''}: chunk "
                 f"sizes tried {row['chunk_sizes_tried']}, largest that ran **{row['largest_that_ran']}** "
                 f"(the largest batch that fits is between it and twice it), images kept {row['images_kept']}, "
                 f"{row['seconds']:.1f} s.")
    if row.get("error"):
        lines.append(f"\nThe run ended with: {row['error']}")
    lines += ["", "Warnings shown to the user:" if row["warnings"] else "No out-of-memory warning was shown.", ""]
    return lines + [f"> {text}" for text in row["warnings"]] + [""]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, simulated out-of-memory (CPU rehearsal)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the measurements (default 420)")
    parser.add_argument("--out-dir", default=str(HERE), help="where GPU.md and gpu_results.json go")
    parser.add_argument("--note", default="", help="a line for the top of GPU.md")
    args = parser.parse_args(argv)
    started, budget = time.perf_counter(), Budget(args.budget)
    backend, gpu_seen = choose_backend()
    os.environ["KERAS_BACKEND"] = backend
    plan = SMOKE if args.smoke else FULL
    results = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), gpu_seen=gpu_seen, plan=plan,
                   command="bash bench/gpu.sh" + (" --smoke" if args.smoke else ""), matmul_n=plan["matmul"])
    results["device"] = describe_device(backend)
    results["peak"] = {dtype: matmul_rate(dtype, plan["matmul"]) for dtype in ("bfloat16", "float32")}
    models = Models()
    model, layer = models.get("vgg16", max(plan["sizes"]))
    sections = [  # in order of need; GPU.md is rewritten after each, so a timeout keeps what ran
        ("goal", lambda: [goal_job(models, plan, precision) for precision in ("bfloat16", "float32")]),
        ("transfers", lambda: _guarded(transfers_per_step, backend, model, layer, max(plan["filters"]), 4)),
        ("largest_batch", lambda: largest_batch(models, plan, simulate=args.smoke or not gpu_seen)),
        ("grid", lambda: grid(models, plan, budget, results["peak"]["bfloat16"])),
    ]
    for name, measure in sections:
        results[name] = measure()
        results["bfloat16_speedup"] = bfloat16_speedups(results.get("grid", []))
        results["seconds"] = time.perf_counter() - started
        _write(results, Path(args.out_dir), args.note)
    print(markdown(results, args.note))


def _write(results, out_dir, note):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out_dir / "GPU.md").write_text(markdown(results, note))
    if results["gpu_seen"] and results["bfloat16_speedup"]:  # into the checkout, to be committed
        write_precision_rule(results, HERE.parent / "actmax_widgets" / "data" / "gpu_precision.json")
    print(f"[{results['seconds']:.0f} s] wrote {out_dir / 'GPU.md'}", flush=True)


if __name__ == "__main__":
    main()
