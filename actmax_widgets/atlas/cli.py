"""``python -m actmax_widgets atlas``: build a model atlas from the command line.

Example::

    python -m actmax_widgets atlas --out atlas --layers block2a_expand_conv,block4a_project_conv --steps 128
"""
from __future__ import annotations

import argparse
import os
import re

# Light modules only: the arguments are checked before TensorFlow loads.
from .. import arguments
from ..cli import STYLES, UsageError, _check_model_file, _load_model, _Parser, exit_status

ENGINES = ("local", "ray")  # engines.ENGINES, listed here without importing it (a test keeps them equal)


def _parser():
    parser = _Parser(
        prog="python -m actmax_widgets atlas",
        description="Precompute the image of every channel of a model's layers into a folder that opens "
                    "in a browser from disk (index.html). A rerun resumes; --engine ray spreads the work "
                    "over a Ray cluster. Default model: the embedded ImageNet EfficientNet-Lite0.")
    parser.add_argument("--model", help="a .keras / .h5 model file (default: embedded EfficientNet-Lite0)")
    parser.add_argument("--out", required=True, help="the atlas folder (created; a rerun resumes there)")
    parser.add_argument("--layers", default="all",
                        help="comma-separated layer names, or 'all' (default): see "
                             "`python -m actmax_widgets --list-layers`")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="a folder of photos: each channel's strongest natural patches are stored too")
    parser.add_argument("--engine", default="local", choices=ENGINES,
                        help="local (this process, default) or ray (Ray tasks; pip install 'actmax-widgets[ray]')")
    parser.add_argument("--address", default=None,
                        help="with --engine ray: a running cluster's host:port (default: start a local one)")
    parser.add_argument("--workers", type=int, default=None,
                        help="with a local Ray cluster: tasks at a time (default: one per CPU)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an atlas of another model or other settings in --out")
    parser.add_argument("--steps", type=int, default=256, help="optimization steps per image (default 256)")
    parser.add_argument("--size", type=int, default=None,
                        help="image size in pixels (default: the model's input size, or 128 where it takes any)")
    parser.add_argument("--style", default="fourier", choices=STYLES, help="how images are made (default fourier)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--filters-per-chunk", type=int, default=32,
                        help="filters per unit of work (default 32): a killed run loses at most those in flight")
    parser.add_argument("--variants", type=int, default=3,
                        help="diverse variants per channel, shown in its view (default 3; 0: none)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def _checked(argv):
    args = _parser().parse_args(argv)
    try:
        arguments.check_int("--steps", args.steps, minimum=1, fix="use at least 1 step, e.g. --steps 256")
        arguments.check_optional(arguments.check_int, "--size", args.size, minimum=arguments.MIN_IMAGE_SIDE,
                                 maximum=arguments.MAX_IMAGE_SIDE, fix="e.g. --size 128")
        arguments.check_int("--filters-per-chunk", args.filters_per_chunk, minimum=1, maximum=1024,
                            fix="use 1..1024, e.g. --filters-per-chunk 32")
        arguments.check_int("--variants", args.variants, minimum=0, maximum=16, fix="use 0..16, e.g. --variants 3")
        arguments.check_optional(arguments.check_int, "--workers", args.workers, minimum=1, fix="e.g. --workers 2")
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    if args.address is not None and args.engine != "ray":
        raise UsageError(f"--address {args.address!r} is for --engine ray: add --engine ray, or drop --address")
    if os.path.isfile(args.out):
        raise UsageError(f"--out {args.out!r} is a file: give a folder, e.g. --out atlas")
    if args.model is not None:
        _check_model_file(args.model)
    return args


def main(argv=None):
    """Run ``atlas``; returns the exit status (2 and one line on stderr for a usage error)."""
    return exit_status(_run, _checked, argv)


def _run(args):
    from .build import build

    model = _load_model(args.model)
    layers = "all" if args.layers.strip() == "all" else [name.strip() for name in args.layers.split(",") if name.strip()]
    try:
        build(model, args.out, layers=layers, style=args.style, steps=args.steps, image_size=args.size,
              images=args.images, engine=args.engine, address=args.address, overwrite=args.overwrite,
              filters_per_chunk=args.filters_per_chunk, seed=args.seed, progress=not args.quiet,
              workers=args.workers, variants=args.variants)
    except (ValueError, TypeError, ConnectionError, ImportError) as error:
        raise UsageError(_as_options(str(error).strip().splitlines()[0])) from None
    index = os.path.join(args.out, "index.html")
    print(index if os.path.isfile(index) else args.out)
    return 0


def _as_options(message: str) -> str:
    """build's message in the CLI's words: ``overwrite=True`` -> ``--overwrite``, ``out=`` -> ``--out``."""
    message = message.replace("overwrite=True (CLI: --overwrite)", "--overwrite")
    message = re.sub(r"^layers:", "--layers:", message)
    return re.sub(r"\b(out|images|address)=", r"--\1 ", message)
