"""``python -m actmax_widgets``: render a labelled grid of filter visualizations to a PNG.

Example::

    python -m actmax_widgets --layer block3a_expand_activation --filters 0-15 --out grid.png
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from . import precision


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m actmax_widgets",
        description="Generate the images that most excite filters of a Keras model's layer and "
                    "write them as a labelled grid PNG. Default model: the embedded ImageNet "
                    "EfficientNet-Lite0 (works offline).")
    parser.add_argument("--model", help="a .keras / .h5 model file (default: embedded EfficientNet-Lite0)")
    parser.add_argument("--layer", help="layer name or index (default: a mid-depth conv layer)")
    parser.add_argument("--filters", default="0-15", help="filters, e.g. '0-15, 32' or 'all' (default 0-15)")
    parser.add_argument("--out", default="grid.png", help="output PNG path (default grid.png)")
    parser.add_argument("--steps", type=int, default=200, help="optimization steps (default 200)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    parser.add_argument("--style", default="fourier",
                        help="how images are made: fourier (default), lucid or keras-vis (classic pixels)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--jitter", type=float, default=None,
                        help="extra Jitter (fraction of the size) on top of the style's transforms")
    parser.add_argument("--tv-weight", type=float, default=None, help="total variation weight (default: the style's)")
    parser.add_argument("--lp-weight", type=float, default=None, help="Lp norm weight (default: the style's)")
    parser.add_argument("--precision", default="float32", choices=list(precision.CHOICES),
                        help="what the model computes in; auto: bfloat16 where measured faster (AMX CPUs, "
                             "no depthwise convolutions), else float32")
    parser.add_argument("--cols", type=int, default=None, help="grid columns (default: square)")
    parser.add_argument("--list-layers", action="store_true", help="list the layers that can be visualized and exit")
    return parser


def _load_model(path):
    if path is None:
        from .models import efficientnet_lite0

        return efficientnet_lite0()
    import keras

    return keras.models.load_model(path, compile=False)


class _ProgressBar:
    """A one-line terminal progress bar (stderr, so the PNG path on stdout stays clean)."""

    def __init__(self, stream=sys.stderr, width=30):
        self.stream, self.width = stream, width
        self.started = time.perf_counter()

    def __call__(self, snapshot):
        done = int(self.width * snapshot.progress)
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r[{'#' * done}{'.' * (self.width - done)}] step {snapshot.step}/"
                          f"{snapshot.total_steps}  {elapsed:5.1f} s")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from . import catalogue, models, render, styles
    from .input_modifiers import Jitter
    from .visualization import visualize_filters

    model = _load_model(args.model)
    if args.list_layers:
        for info in catalogue.visualizable_layers(model):
            print(info.description)
        return 0
    try:
        layer = args.layer
        if layer is not None and layer.lstrip("-").isdigit():
            layer = int(layer)
        info = catalogue.default_layer(model) if layer is None else catalogue.describe_layer(model, layer)
        filters = catalogue.parse_filter_spec(args.filters, info.n_filters)
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    options = {"max_iter": args.steps, "image_size": args.size, "seed": args.seed, "precision": args.precision,
               "style": args.style}
    if args.jitter:
        own = styles.get(args.style).get("input_modifiers") or []
        options["input_modifiers"] = list(own) + [Jitter(args.jitter)]
    if args.tv_weight is not None:
        options["tv_weight"] = args.tv_weight
    if args.lp_weight is not None:
        options["lp_norm_weight"] = args.lp_weight
    progress = _ProgressBar()
    try:
        result = visualize_filters(model, info.name, filters, labels=models.class_names_for(model),
                                   snapshot_seconds=0.5, on_snapshot=progress, **options)
    except (ValueError, TypeError) as error:
        progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress.close()
    title = f"{model.name} · {info.description} · {result.steps} steps"
    if result.precision != "float32":  # say so: chosen, or picked by --precision auto
        title += f" · {result.precision}"
    render.save_png(result.grid(cols=args.cols, title=title), args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
