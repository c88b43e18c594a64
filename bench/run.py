"""Run every benchmark, one subprocess per job, and write ``bench/RESULTS.md`` and the plots.

    PYTHONPATH=. .venv/bin/python -m bench.run            # the full run (~10 min on 2 cores)
    PYTHONPATH=. .venv/bin/python -m bench.run --quick    # a smoke run: few steps everywhere
    PYTHONPATH=. .venv/bin/python -m bench.run --report   # rewrite RESULTS.md from results.json

This process never imports TensorFlow: each job runs in its own ``python -m bench.jobs`` so its
peak memory and its first-call (compile) time are its own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_JSON = HERE / "results.json"

# (model, filters): (timed steps per round in the alternated pair, rounds)
SIDE_BY_SIDE = {
    ("vgg16", 1): (8, 2), ("vgg16", 16): (2, 2), ("vgg16", 64): (1, 2),
    ("lite0", 1): (15, 2), ("lite0", 16): (8, 2), ("lite0", 64): (3, 2),
}


def plan(quick):
    """The jobs in run order: ``(section, job name, kwargs, extra env)``."""
    s = (lambda full, small: small) if quick else (lambda full, small: full)
    jobs = [("peak", "peak_fraction", dict(model="vgg16", n=16, steps=s(4, 1), rounds=s(3, 1)), {})]
    for (model, n), (steps, rounds) in SIDE_BY_SIDE.items():
        jobs.append(("side_by_side", "side_by_side_pair",
                     dict(model=model, n=n, steps=s(steps, 1), rounds=s(rounds, 2)), {}))
    for model in ("vgg16", "lite0"):
        for lib in ("ours", "ours_bf16", "theirs"):
            counts = sorted(n for m, n in SIDE_BY_SIDE if m == model)
            jobs.append(("side_by_side", "side_by_side", dict(model=model, lib=lib, counts=counts), {}))
    jobs += [
        ("one_at_a_time", "one_at_a_time", dict(model="lite0", n=s(16, 3), steps=s(10, 2)), {}),
        ("latency", "widget_latency", dict(model="lite0", n=16, steps=s(60, 10), snapshot_every=5,
                                           image_size=96, stops=s(3, 1)), {}),
        ("scaling", "scaling", dict(model="lite0", counts=s([1, 4, 16, 64, 256], [1, 4]),
                                    sizes=s([64, 96, 128, 192, 256], [64, 96]), steps=s(3, 1),
                                    count_size=128, size_count=16), {}),
        ("scaling", "scaling", dict(model="vgg16", counts=s([1, 4, 16, 64], [1, 4]),
                                    sizes=s([64, 128, 256], [64, 96]), steps=s(1, 1),
                                    count_size=128, size_count=4), {}),
        ("memory", "memory_runs", dict(model="lite0", n=16, steps=s(3, 1), runs=s(50, 5)), {}),
    ]
    # The core's exact speed-ups, each switched off once to measure it.
    lite0 = [dict(label="float32", quality=s(96, 3)), dict(label="float32 without BN folding", no_fold=True),
             dict(label='precision="bfloat16"', precision="bfloat16", quality=s(96, 3), file="bf16"),
             dict(label="XLA", jit=True, steps=1)]  # XLA is slow here: fewer steps
    vgg = [dict(label="float32", quality=s(96, 3)), dict(label="float32 without target head", no_head=True),
           dict(label='precision="bfloat16"', precision="bfloat16", quality=s(96, 3), file="bf16")]
    jobs += [
        ("variants", "variants", dict(model="lite0", n=16, steps=s(6, 1), settings=lite0), {}),
        ("variants", "variants", dict(model="vgg16", n=16, steps=s(3, 1), settings=vgg), {}),
        # TF's default on this machine is intra = inter = number of CPUs: try one op at a time.
        ("variants", "variants", dict(model="lite0", n=16, steps=s(6, 1), settings=[dict(label="float32")], inter=1), {}),
        ("variants", "variants", dict(model="vgg16", n=16, steps=s(3, 1), settings=[dict(label="float32")], inter=1), {}),
        ("precision_rule", "precision_rule", dict(n=16, steps=s(3, 1)), {}),
        ("profile", "profile", dict(model="vgg16", n=16, steps=s(3, 2)), {}),
        ("profile", "profile", dict(model="lite0", n=16, steps=s(8, 2)), {}),
    ]
    return jobs


def run_job(name, kwargs, env_extra, timeout):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.jobs", name, json.dumps(kwargs)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"job": name, "kwargs": kwargs, "error": f"timed out after {timeout} s"}
    elapsed = time.perf_counter() - started
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result.update(kwargs=kwargs, env=env_extra, process_s=elapsed)
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"job": name, "kwargs": kwargs, "env": env_extra, "error": " | ".join(tail), "process_s": elapsed}


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name"))
        flags = next(l.split(":", 1)[1].split() for l in cpuinfo.splitlines() if l.startswith("flags"))
        info["cpu_flags"] = [f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f"))]
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version
        info["versions"] = {p: version(p) for p in ("tensorflow-cpu", "keras", "tf-keras-vis", "numpy")}
    except Exception as error:  # a missing package is reported, not fatal
        info["versions"] = str(error)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few steps everywhere (a smoke run)")
    parser.add_argument("--only", nargs="*", help="sections to run (peak, side_by_side, one_at_a_time, "
                        "latency, scaling, memory, variants, profile)")
    parser.add_argument("--report", action="store_true", help="only rewrite RESULTS.md and plots")
    parser.add_argument("--timeout", type=int, default=420, help="seconds per job")
    args = parser.parse_args(argv)

    if not args.report:
        jobs = [j for j in plan(args.quick) if not args.only or j[0] in args.only]
        previous = json.loads(RESULTS_JSON.read_text()) if args.only and RESULTS_JSON.exists() else {}
        kept = [r for r in previous.get("results", []) if r.get("section") not in set(args.only or [])]
        started = time.perf_counter()
        loads = [os.getloadavg()[0]]
        results = []
        for k, (section, name, kwargs, env) in enumerate(jobs, 1):
            print(f"[{k}/{len(jobs)}] {section}: {name} {kwargs} {env or ''}", flush=True)
            result = run_job(name, kwargs, env, args.timeout)
            result["section"] = section
            loads.append(os.getloadavg()[0])
            if "error" in result:
                print(f"    FAILED: {result['error']}", flush=True)
            else:
                print(f"    {result['process_s']:.1f} s", flush=True)
            results.append(result)
        data = {
            "machine": machine_info(), "quick": args.quick,
            "total_s": time.perf_counter() - started + previous.get("total_s", 0.0) * bool(kept),
            "load_average": loads + previous.get("load_average", []),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "results": kept + results,
        }
        RESULTS_JSON.write_text(json.dumps(data, indent=1))
    report.write(json.loads(RESULTS_JSON.read_text()), HERE)
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
