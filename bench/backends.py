"""The same jobs on TensorFlow, JAX and PyTorch, side by side in one run: filter-steps/s per backend.

    PYTHONPATH=. .venv/bin/python -m bench.backends            # 3 rounds; writes the table
    PYTHONPATH=. .venv/bin/python -m bench.backends --rounds 1 --steps 4   # smoke

One worker process per backend (KERAS_BACKEND is read when Keras is imported, so one process
cannot hold two); each builds the jobs' models and makes a first call (the compile, timed apart),
then the parent asks each worker in turn for one timed run per job, the order of the backends
rotated every round, so a change of load on a shared machine hits every backend alike. Results:
``bench/backends.json`` and the "Keras backends" section of ``bench/RESULTS.md`` (``report.py``
quotes the same section when it rewrites RESULTS.md). No backend is imported in the parent.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax", "torch")
HEADING = "## 9. Keras backends on this CPU"
# name: (what, image size, filters); steps come from --steps (default 32).
JOBS = {
    "lite0": ("EfficientNet-Lite0 `block4c_activation` (a middle layer)", 64, 16),
    "tiny": ("a 3-conv net (16-32-32 channels), last conv", 32, 16),
}


# -- the worker: one backend -----------------------------------------------------------------------
def _build(job):
    import keras

    from actmax_widgets import catalogue, models

    _, size, _ = JOBS[job]
    if job == "lite0":
        model = models.efficientnet_lite0(input_shape=(size, size, 3), include_top=False)
        return model, catalogue.default_layer(model).name
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = inputs
    for k, channels in enumerate((16, 32, 32)):
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{k + 1}")(x)
    return keras.Model(inputs, x, name="tiny"), "conv3"


def _run(model, layer, n, steps):
    from actmax_widgets import visualize_filters

    started = time.perf_counter()
    visualize_filters(model, layer, list(range(n)), max_iter=steps, seed=0, batch_size=n)
    return time.perf_counter() - started


def worker(steps):
    """Build every job, make the first call (timed), then answer one timed run per line read."""
    import keras

    from bench.flops import step_flops

    built, first = {}, {}
    for job, (_, _, n) in JOBS.items():
        model, layer = built[job] = _build(job)
        first[job] = _run(model, layer, n, 1)
    flops = {job: step_flops(*built[job]) for job in JOBS}
    versions = {"keras": keras.__version__, "backend": _backend_version()}
    print(json.dumps({"ready": True, "first_call": first, "flops_per_image_step": flops, "versions": versions}),
          flush=True)
    for line in sys.stdin:
        job = json.loads(line)["job"]
        model, layer = built[job]
        print(json.dumps({"job": job, "seconds": _run(model, layer, JOBS[job][2], steps)}), flush=True)


def _backend_version():
    name = os.environ.get("KERAS_BACKEND", "tensorflow")
    module = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[name])
    return f"{name} {module.__version__}"


# -- the parent: interleaved rounds, the table ------------------------------------------------------
class Worker:
    def __init__(self, backend, steps):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
        self.backend = backend
        self.process = subprocess.Popen([sys.executable, "-m", "bench.backends", "--worker", "--steps", str(steps)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.ready = self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"The {self.backend} worker ended (exit {self.process.wait()}); its error is above.")
        return json.loads(line)

    def run(self, job):
        self.process.stdin.write(json.dumps({"job": job}) + "\n")
        self.process.stdin.flush()
        return self._answer()["seconds"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def measure(backends, rounds, steps):
    """Per backend: its worker's start-up answer and every timed run per job."""
    started, out, workers = time.perf_counter(), {}, {}
    for backend in backends:
        try:
            workers[backend] = Worker(backend, steps)
            out[backend] = dict(workers[backend].ready, runs={job: [] for job in JOBS})
        except Exception as error:  # noqa: BLE001 - a backend that cannot run is reported, not fatal
            out[backend] = {"error": f"{type(error).__name__}: {error}"}
    live = list(workers)
    for round_number in range(rounds):
        order = live[round_number % len(live):] + live[:round_number % len(live)] if live else []
        for job in JOBS:
            for backend in order:
                out[backend]["runs"][job].append(workers[backend].run(job))
    for running in workers.values():
        running.close()
    return {"backends": out, "rounds": rounds, "steps": steps, "seconds": time.perf_counter() - started,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
            "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def section(data):
    """RESULTS.md's backends section from ``backends.json``'s content."""
    steps, lines = data["steps"], [HEADING, ""]
    lines += [f"`PYTHONPATH=. .venv/bin/python -m bench.backends --rounds {data['rounds']} --steps {steps}` "
              f"({data['date']}, {data['machine']}, 1-min load {data['load_average'][0]:.1f} at the end; "
              f"{data['seconds']:.0f} s). One worker process per backend; each job's timed runs interleaved "
              "over the backends, the order rotated every round; filter-steps/s = filters × steps / wall "
              "seconds of one `visualize_filters` call (keras-vis's defaults), median of the rounds; the first "
              "call (1 step) includes tracing/compiling.", ""]
    lines += ["| job | backend | filter-steps/s (median) | per round | vs TensorFlow | first call (s) |",
              "|---|---|---|---|---|---|"]
    for job, (what, size, n) in JOBS.items():
        reference = _rate(data["backends"].get("tensorflow", {}), job, n, steps)
        for backend, result in data["backends"].items():
            head = f"| {what}, {n} filters, {size} px, {steps} steps | {backend} |"
            if "error" in result:
                lines.append(f"{head} did not run: {result['error']} | | | |")
                continue
            rate = _rate(result, job, n, steps)
            rounds = ", ".join(f"{n * steps / s:.1f}" for s in result["runs"][job])
            versus = f"{rate / reference:.2f}×" if reference else "–"
            lines.append(f"{head} {rate:.1f} | {rounds} | {versus} | {result['first_call'][job]:.1f} |")
    versions = {b: r["versions"]["backend"] for b, r in data["backends"].items() if "versions" in r}
    lines += ["", "Versions: " + ", ".join(versions.values()) + "."]
    return "\n".join(lines)


def _rate(result, job, n, steps):
    runs = result.get("runs", {}).get(job)
    return n * steps / statistics.median(runs) if runs else None


def write(data, out_dir=HERE):
    """``backends.json`` and the section in RESULTS.md (replaced where it is, else appended)."""
    (out_dir / "backends.json").write_text(json.dumps(data, indent=1) + "\n")
    path = out_dir / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    start = text.find(HEADING)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section(data) + "\n"
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section(data) + ("\n" + text[end:] if end >= 0 else "\n")
    path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: all three)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.steps)
    data = measure(args.backends.split(","), args.rounds, args.steps)
    write(data)
    print(section(data))
    return None


if __name__ == "__main__":
    main()
