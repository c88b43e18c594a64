"""Atlas throughput: channels per minute of ``atlas.build`` on the embedded EfficientNet-Lite0,
local engine vs Ray with 1 and 2 workers, and the peak memory of the whole process tree (this
process, and for Ray the cluster's raylet, workers and helpers).

    python bench/atlas_bench.py --all --every 10 --steps 8 --size 64      # writes bench/atlas_results.json

``--every N`` builds every N-th visualizable layer (in model order: all depths, the whole
model's mix of early and late layers); the whole model's time is projected from it per channel
(see bench/ATLAS.md). Each configuration runs in a fresh process (its memory is its own).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("atlas_results.json")
CONFIGS = {"local": ("local", None), "ray-1": ("ray", 1), "ray-2": ("ray", 2)}


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
    def __init__(self, every_s=0.5):
        super().__init__(daemon=True)
        self.every_s, self.peak, self.running = every_s, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            time.sleep(self.every_s)


def one(config: str, every: int, steps: int, size: int, chunk: int) -> dict:
    import actmax_widgets  # noqa: F401 - quiet TensorFlow first
    from actmax_widgets import catalogue, models
    from actmax_widgets.atlas import build

    model = models.efficientnet_lite0()
    infos = catalogue.visualizable_layers(model)
    layers = [info.name for info in infos[::every]]
    engine, workers = CONFIGS[config]
    memory = PeakMemory()
    memory.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = build(model, out, layers=layers, steps=steps, image_size=size, engine=engine, workers=workers,
                        filters_per_chunk=chunk, progress=False)
    seconds = time.perf_counter() - started
    memory.running = False
    memory.join()
    return {"config": config, "every": every, "steps": steps, "size": size, "filters_per_chunk": chunk,
            "layers": len(layers), "channels": summary.channels_computed, "seconds": round(seconds, 1),
            "channels_per_minute": round(60 * summary.channels_computed / seconds, 1),
            "peak_rss_gib": round(memory.peak / 2**30, 2),
            "model_layers": len(infos), "model_channels": sum(i.n_filters for i in infos), "cpus": os.cpu_count(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), help="one configuration (else --all)")
    parser.add_argument("--all", action="store_true", help="local, ray-1 and ray-2, each in a fresh process")
    parser.add_argument("--every", type=int, default=10, help="every N-th visualizable layer (1: the whole model)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=64, help="filters per chunk")
    args = parser.parse_args(argv)
    if args.config:
        print(json.dumps(one(args.config, args.every, args.steps, args.size, args.chunk)))
        return 0
    results = []
    for config in CONFIGS:
        command = [sys.executable, __file__, "--config", config, "--every", str(args.every), "--steps",
                   str(args.steps), "--size", str(args.size), "--chunk", str(args.chunk)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
