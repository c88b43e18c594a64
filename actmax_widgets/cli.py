"""``python -m actmax_widgets``: render a labelled grid of filter visualizations to a PNG.

Example::

    python -m actmax_widgets --layer block3a_expand_activation --filters 0-15 --out grid.png
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# Only light modules here: arguments are parsed and checked before TensorFlow loads (seconds),
# so --help and a mistyped option answer at once.
from . import arguments, precision

# styles.names(), listed without importing styles (it builds Keras objects); a test keeps the two
# lists equal.
STYLES = ("fourier", "lucid", "keras-vis", "maco")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


class UsageError(Exception):
    """A mistake in the command line or its files: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def _parser():
    parser = _Parser(
        prog="python -m actmax_widgets",
        description="Generate the images that most excite filters of a Keras model's layer and "
                    "write them as a labelled grid PNG. Default model: the embedded ImageNet "
                    "EfficientNet-Lite0 (works offline).")
    parser.add_argument("--model", help="a .keras / .h5 model file (default: embedded EfficientNet-Lite0)")
    parser.add_argument("--layer", help="layer name or index (default: a mid-depth conv layer)")
    parser.add_argument("--filters", default="0-15", help="filters, e.g. '0-15, 32' or 'all' (default 0-15)")
    parser.add_argument("--out", default="grid.png", help="output PNG path (default grid.png)")
    parser.add_argument("--gif", default=None,
                        help="also write the run as an animation of the grid: a .gif or .webp path")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="a folder of photos (JPEG/PNG, searched recursively): each filter's 3 strongest "
                             "natural patches are drawn under its tile")
    parser.add_argument("--steps", type=int, default=200, help="optimization steps (default 200)")
    parser.add_argument("--size", type=int, default=None,
                        help="image size in pixels (default: the model's input size, or 128 where it takes any)")
    parser.add_argument("--style", default="fourier", choices=STYLES,
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


def _checked(argv):
    """The parsed arguments, every value and both files checked: UsageError on the first problem."""
    args = _parser().parse_args(argv)
    try:
        arguments.check_int("--steps", args.steps, minimum=1, fix="use at least 1 step, e.g. --steps 200")
        arguments.check_optional(arguments.check_int, "--size", args.size, minimum=arguments.MIN_IMAGE_SIDE,
                                 maximum=arguments.MAX_IMAGE_SIDE, fix=f"use {arguments.MIN_IMAGE_SIDE}.."
                                 f"{arguments.MAX_IMAGE_SIDE} pixels, e.g. --size 128")
        arguments.check_optional(arguments.check_number, "--jitter", args.jitter, minimum=0,
                                 fix="use a fraction of the size >= 0, e.g. --jitter 0.05")
        for name, value in (("--tv-weight", args.tv_weight), ("--lp-weight", args.lp_weight)):
            arguments.check_optional(arguments.check_number, name, value, minimum=0,
                                     fix=f"use a weight >= 0, e.g. {name} 10, or 0 to drop that penalty")
        arguments.check_optional(arguments.check_int, "--cols", args.cols, minimum=1, fix="use at least 1 column")
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    if not args.list_layers:
        _check_out("--out", args.out, (".png",), "grid.png")
        if args.gif is not None:
            _check_out("--gif", args.gif, (".gif", ".webp"), "run.gif")
    if args.model is not None:
        _check_model_file(args.model)
    if args.images is not None and not args.list_layers:
        _check_images(args.images)
    return args


def _check_images(folder):
    """Refuse an --images folder with no photos before the model loads (image_sources is light)."""
    from .evidence import image_sources

    try:
        image_sources.open_source(folder, "--images")
    except ValueError as error:
        raise UsageError(str(error)) from None


def _check_out(option, path, suffixes, example):
    """Refuse an output path (``--out``, ``--gif``) that could not be written to, before minutes
    of optimizing."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a directory: give a file name, e.g. "
                         f"{option} {os.path.join(path, example)}")
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option} {path!r} does not end in {' or '.join(suffixes)}: e.g. {option} {example}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} does not exist: create it or pick another path")
    # Try it (os.access says yes to root on read-only file systems): append nothing to an existing
    # file, or create and remove a new one.
    try:
        if os.path.exists(path):
            open(path, "ab").close()
        else:
            open(path, "xb").close()
            os.remove(path)
    except OSError as error:
        raise UsageError(f"{option} {path!r} cannot be written ({error.strerror}): pick a path in a folder you "
                         "can write to") from None


def _check_model_file(path):
    if not os.path.isfile(path):
        raise UsageError(f"--model {path!r} does not exist (or is not a file): give the path of a saved "
                         "model, e.g. --model model.keras")
    try:
        open(path, "rb").close()
    except OSError as error:
        raise UsageError(f"--model {path!r} cannot be read ({error.strerror}): check its permissions") from None
    if not path.lower().endswith(MODEL_SUFFIXES):
        raise UsageError(f"--model {path!r} is not a Keras model file: save one with model.save('model.keras') "
                         "(.keras, .h5 or .hdf5)")


def _load_model(path):
    if path is None:
        from .models import efficientnet_lite0

        return efficientnet_lite0()
    import keras

    from .vit import CUSTOM_OBJECTS  # this package's own layers (the tiny ViT) load by name

    try:
        return keras.models.load_model(path, compile=False, custom_objects=CUSTOM_OBJECTS)
    except Exception as error:  # noqa: BLE001 - any failure to read a user's file is a usage error
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(f"--model {path!r} could not be loaded ({type(error).__name__}: {reason[:200]}): "
                         "save it with model.save('model.keras') in Keras 3") from None


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
    """Run the CLI; returns the exit status (2 and one line on stderr for a usage error).
    ``atlas`` as the first argument runs the atlas subcommand (``atlas.cli``), its own options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["atlas"]:
        from .atlas.cli import main as atlas_main

        return atlas_main(argv[1:])
    return exit_status(_run, _checked, argv)


def exit_status(run, checked, argv):
    """``run(checked(argv))``'s exit status; a usage error is one line on stderr and status 2
    (this command's and the atlas subcommand's rule)."""
    try:
        return run(checked(argv))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args):
    from . import catalogue, image_sizes, models, render, styles
    from .input_modifiers import Jitter
    from .visualization import visualize_filters

    model = _load_model(args.model)
    try:
        if args.list_layers:
            for info in catalogue.visualizable_layers(model):
                print(info.description)
            return 0
        layer = args.layer
        if layer is not None and layer.lstrip("-").isdigit():
            layer = int(layer)
        info = catalogue.default_layer(model) if layer is None else catalogue.describe_layer(model, layer)
        filters = catalogue.parse_filter_spec(args.filters, info.n_filters)
        if args.size is not None:  # a size the layer cannot run at, named as typed
            image_sizes.sizes_for(model, info.name).check(args.size, "--size")
        recipe = styles.get(args.style)
        if args.jitter:  # on top of the style's own transforms
            recipe = recipe.replace(transforms=recipe.transforms + (Jitter(args.jitter),))
        if args.tv_weight is not None:
            recipe = recipe.replace(tv_weight=args.tv_weight)
        if args.lp_weight is not None:
            recipe = recipe.replace(lp_norm_weight=args.lp_weight)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    options = {"max_iter": args.steps, "image_size": args.size, "seed": args.seed, "precision": args.precision,
               "recipe": recipe}
    examples = _natural_examples(model, info.name, filters, args) if args.images else None
    progress = _ProgressBar()
    try:
        result = visualize_filters(model, info.name, filters, labels=models.class_names_for(model),
                                   snapshot_seconds=0.5, on_snapshot=progress, **options)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error).strip().splitlines()[0]) from None
    finally:
        progress.close()
    title = f"{model.name} · {info.description} · {result.steps} steps"
    if result.precision != "float32":  # say so: chosen, or picked by --precision auto
        title += f" · {result.precision}"
    if examples is not None:
        from .evidence import tiles

        result = tiles.result_with_examples(result, examples)
        title += f" · under each: its top patches of {examples.images_scanned} photos"
    render.save_png(result.grid(cols=args.cols, title=title), args.out)
    print(args.out)
    if args.gif is not None:
        print(result.save_gif(args.gif))
    return 0


def _natural_examples(model, layer, filters, args):
    """Each filter's top natural patches in the --images folder (scanned before optimizing, so a
    folder of unreadable files stops the run at once)."""
    from .evidence import dataset_examples

    try:
        return dataset_examples(model, layer, filters, images=args.images, top_k=3, image_size=args.size)
    except (ValueError, TypeError) as error:
        message = str(error)  # the scan names its argument images=...: on the command line it is --images
        raise UsageError("--" + message if message.startswith("images=") else message) from None


if __name__ == "__main__":
    sys.exit(main())
