"""Atlas throughput: channels per minute of ``atlas.build`` on the embedded EfficientNet-Lite0,
local engine vs Ray with 1 and 2 workers, run side by side (interleaved repeats), with each
run's peak memory (its whole process tree) and the machine's load around it.

    nice .venv/bin/python bench/atlas_bench.py --repeats 3      # writes bench/atlas_results.json

Each run is a fresh process (its memory and compiles are its own); the parent samples that
process tree's memory from outside (a sampler thread inside the build process would share its
GIL with the local engine only). The configurations run in a rotated order per repeat, so a
change in the machine's load (it is shared) hits each of them alike; the report gives medians and
the spread. Besides the engines, ``local-1x2`` runs the local engine with the TensorFlow thread
counts of a 1-worker Ray task (1 inter-op thread, 2 intra-op), to separate the engine from
its threads (bench/ATLAS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("atlas_results.json")
# name: (engine, Ray workers, extra environment of the build process)
CONFIGS = {"local": ("local", None, {}),
           "local-1x2": ("local", None, {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2"}),
           "ray-1": ("ray", 1, {}), "ray-2": ("ray", 2, {})}
DEFAULT_LAYERS = "block5b_add"  # 112 channels, 4 chunks of 32: what fits a loaded 2-core machine


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (from /proc)."""
    parents, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


class PeakMemory(threading.Thread):
    """The peak of ``tree_rss_bytes(root)``, sampled every ``every_s`` until ``stop()``."""

    def __init__(self, root, every_s=0.5):
        super().__init__(daemon=True)
        self.root, self.every_s, self.peak, self.running = root, every_s, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, tree_rss_bytes(self.root))
            time.sleep(self.every_s)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def one(config: str, layers: list, steps: int, size: int, chunk: int, variants: int) -> dict:
    """One build in this process: wall time, the chunks' own compute time, the first result's delay."""
    import actmax_widgets  # noqa: F401 - quiet TensorFlow first
    import tensorflow as tf

    from actmax_widgets import catalogue, models
    from actmax_widgets.atlas import build

    model = models.efficientnet_lite0()
    infos = [catalogue.describe_layer(model, name) for name in layers]
    engine, workers, _ = CONFIGS[config]
    done_at = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = build(model, out, layers=layers, steps=steps, image_size=size, engine=engine, workers=workers,
                        filters_per_chunk=chunk, progress=False, variants=variants,
                        on_chunk=lambda *_: done_at.append(time.perf_counter() - started))
        seconds = time.perf_counter() - started
        chunks = json.loads((Path(out) / "manifest.json").read_text())["chunks"].values()
        compute = [c["seconds"] for c in chunks]
    return {"config": config, "layers": layers, "steps": steps, "size": size, "filters_per_chunk": chunk,
            "variants": variants, "channels": summary.channels_computed, "chunks": len(compute),
            "seconds": round(seconds, 1), "channels_per_minute": round(60 * summary.channels_computed / seconds, 1),
            "first_chunk_done_s": round(done_at[0], 1),
            # The chunks' own time inside compute_chunk (compiles included), summed: the work itself.
            "compute_s": round(sum(compute), 1),
            "tf_threads_driver": [tf.config.threading.get_inter_op_parallelism_threads(),
                                  tf.config.threading.get_intra_op_parallelism_threads()],
            "model_channels_of_layers": sum(i.n_filters for i in infos), "cpus": os.cpu_count()}


def run_child(config, args) -> dict:
    """``one`` in a fresh process, its tree's peak memory and the load around it."""
    command = [sys.executable, __file__, "--config", config, "--layers", args.layers, "--steps", str(args.steps),
               "--size", str(args.size), "--chunk", str(args.chunk), "--variants", str(args.variants)]
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **CONFIGS[config][2]})
    memory = PeakMemory(process.pid)
    memory.start()
    stdout, stderr = process.communicate()
    peak = memory.stop()
    if process.returncode:  # recorded, not raised: one failed start (Ray's, on an overloaded machine) keeps the rest
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        result = {"config": config, "failed": (lines or ["?"])[-1][-400:]}
    else:
        result = json.loads(stdout.strip().splitlines()[-1])
    result.update(peak_rss_gib=round(peak / 2**30, 2), load_1min_before=round(load_before, 1),
                  load_1min_after=round(os.getloadavg()[0], 1))
    return result


def summarize(runs: list) -> dict:
    """Per configuration: median and range of channels/min, compute seconds and memory; and the
    ratio of each configuration's median rate to the local engine's."""
    table = {}
    for config in CONFIGS:
        mine = [r for r in runs if r["config"] == config and "failed" not in r]
        if not mine:
            continue
        rates = [r["channels_per_minute"] for r in mine]
        table[config] = {"runs": len(mine), "channels_per_minute_median": statistics.median(rates),
                         "channels_per_minute_range": [min(rates), max(rates)],
                         "seconds_median": statistics.median(r["seconds"] for r in mine),
                         "compute_s_median": statistics.median(r["compute_s"] for r in mine),
                         "first_chunk_done_s_median": statistics.median(r["first_chunk_done_s"] for r in mine),
                         "peak_rss_gib_max": max(r["peak_rss_gib"] for r in mine)}
    local = table.get("local", {}).get("channels_per_minute_median")
    for config, row in table.items():
        row["rate_vs_local"] = round(row["channels_per_minute_median"] / local, 3) if local else None
    return table


def variants_grid(path="bench/atlas_variants.jpg", weights=(3.0, 10.0, 30.0), steps=128, size=128):
    """The grid bench/ATLAS.md looks at: 3 variants of 2 channels of two layers per diversity
    weight, made as the atlas makes them (``engines._visualize``, the variants' seed stream)."""
    import numpy as np
    from PIL import Image, ImageDraw

    import actmax_widgets  # noqa: F401
    from actmax_widgets import models
    from actmax_widgets.atlas import engines, variants
    from actmax_widgets.atlas.chunks import Chunk

    model, rows, labels = models.efficientnet_lite0(), [], []
    for layer, filters in (("block4b_add", [6, 64]), ("block6d_add", [10, 100])):
        for weight in weights:
            settings = {"style": "fourier", "steps": steps, "seed": 0}
            result = engines._visualize(model, Chunk(layer, 0, 2, size), [f for f in filters for _ in range(3)],
                                        settings, batch_size=6, diversity=weight, seed=variants.SEED_OFFSET)
            print(layer, weight, np.round(result.final_activations, 1).tolist(), flush=True)
            rows.append(np.concatenate(list(result.images), axis=1))
            labels.append(f"{layer} {filters} w={weight}")
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    draw = ImageDraw.Draw(grid)
    for i, label in enumerate(labels):
        draw.text((4, i * size + 2), label, fill=(255, 255, 0))
    grid.convert("RGB").save(path, quality=85)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), help="one run in this process (the parent's child)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="which to compare (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", default=DEFAULT_LAYERS, help="comma-separated layer names")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=32, help="filters per chunk")
    parser.add_argument("--variants", type=int, default=0, help="diverse variants per channel (0: the engines alone)")
    parser.add_argument("--variants-grid", action="store_true", help="only draw bench/atlas_variants.jpg")
    args = parser.parse_args(argv)
    if args.variants_grid:
        variants_grid()
        return 0
    if args.config:
        print(json.dumps(one(args.config, args.layers.split(","), args.steps, args.size, args.chunk, args.variants)))
        return 0
    configs, runs = args.configs.split(","), []
    for repeat in range(args.repeats):
        shift = repeat % len(configs)
        for config in configs[shift:] + configs[:shift]:  # rotated: no configuration always runs first
            runs.append({"repeat": repeat, **run_child(config, args)})
            print(json.dumps(runs[-1]), flush=True)
            RESULTS.write_text(json.dumps({"runs": runs, "summary": summarize(runs)}, indent=1) + "\n")
    print(json.dumps(summarize(runs), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
