"""Scan throughput: ``dataset_examples`` against ``model.predict`` on the same images, side by side.

    PYTHONPATH=. .venv/bin/python bench/scan_throughput.py [--images 256] [--batch-size 64] [--rounds 3]

The embedded EfficientNet-Lite0 at its own 224 px, cut at a mid layer (``catalogue.default_layer``,
every filter scanned), on crops of the offline default photos fitted to 224 px and held as one
uint8 array (what a user passes as ``images=``). Each round times, in an order reversed every
round so a load change on a shared machine hits all alike:

* ``predict``: ``model.predict(images, batch_size)``, the whole model;
* ``predict_cut``: ``predict`` of the model cut at the layer (the same layers the scan runs);
* ``scan``: one whole ``dataset_examples(..., cache=False, progress=False)`` call: the model cut,
  images read and fitted, the compiled forward run, the top-k and patches of all 480 filters kept.

Each first runs once on one batch (predict's compiled function is then cached on the model, the
scan's for the layer, as in a notebook that ran them before); that first scan call is reported.

Reports images/s per run and the median over rounds of the per-round ratios scan / predict and
scan / predict_cut. The issue asks for scan >= 0.8 x predict.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def _images(count):
    from actmax_widgets.evidence import default_images, image_sources

    fitted = np.concatenate([batch.images for batch in image_sources.iterate(default_images(), (224, 224), 64)])
    return np.resize(fitted, (count,) + fitted.shape[1:]).round().astype(np.uint8)  # repeated when count > 384


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import actmax_widgets  # noqa: F401  (first: quiets TensorFlow's start-up lines)
    import keras

    from actmax_widgets import catalogue
    from actmax_widgets.evidence import dataset_examples
    from actmax_widgets.models import efficientnet_lite0

    model = efficientnet_lite0()
    layer = catalogue.default_layer(model)
    cut = keras.Model(model.inputs[0], model.get_layer(layer.name).output)
    images = _images(args.images)
    floats = images.astype("float32")
    runs = {
        "predict": lambda: model.predict(floats, batch_size=args.batch_size, verbose=0),
        "predict_cut": lambda: cut.predict(floats, batch_size=args.batch_size, verbose=0),
        "scan": lambda: dataset_examples(model, layer.name, images=images, batch_size=args.batch_size,
                                         cache=False, progress=False),
    }
    for warm_up in (model, cut):
        warm_up.predict(floats[:args.batch_size], batch_size=args.batch_size, verbose=0)
    first_scan = _timed(lambda: dataset_examples(model, layer.name, images=images[:args.batch_size],
                                                 batch_size=args.batch_size, cache=False, progress=False))
    seconds = {name: [] for name in runs}
    for round_index in range(args.rounds):
        order = list(runs) if round_index % 2 == 0 else list(reversed(runs))
        for name in order:
            seconds[name].append(_timed(runs[name]))
        print(f"round {round_index + 1}: " + ", ".join(f"{n} {args.images / seconds[n][-1]:.1f} img/s" for n in runs),
              file=sys.stderr)
    ratio = {other: statistics.median(p / s for s, p in zip(seconds["scan"], seconds[other]))
             for other in ("predict", "predict_cut")}
    report = {"layer": layer.description, "images": args.images, "batch_size": args.batch_size,
              "first_scan_of_one_batch_seconds": round(first_scan, 2),
              "images_per_second": {n: [round(args.images / s, 2) for s in v] for n, v in seconds.items()},
              "scan_over_predict": round(ratio["predict"], 3), "scan_over_predict_cut": round(ratio["predict_cut"], 3)}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
