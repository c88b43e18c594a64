"""Batched Grad-CAM throughput: ``actmax_widgets.grad_cam`` vs tf-keras-vis 0.8.7's ``Gradcam``,
side by side in one process, on the same photos, model and classes.

    .venv/bin/python -m pip install --no-deps tf-keras-vis==0.8.7 && .venv/bin/python -m pip install deprecated imageio
    PYTHONPATH=. .venv/bin/python bench/gradcam_vs_tf_keras_vis.py [--images 32] [--rounds 5]

(``bash bench/run.sh`` installs the same.) The model is the embedded EfficientNet-Lite0 at 224 px
with its classifier; both libraries score the class logit (ours: ``logits=True``, the default;
tf-keras-vis: ``ReplaceToLinear``) and take the feature maps of ``top_conv``, the last convolution
(each library's default choice), upsampled to 224 px and scaled to [0, 1]. The photos are
scikit-image's bundled ones, centre-cropped to 224 px; each is explained for the model's top
class. Each library gets a warm-up call (tracing), then timed calls on all the images alternate
over rounds, the order reversed every round so a load change on a shared machine hits both; the
ratio is the median of the per-round ratios. The maps are compared too (Pearson correlation per
image): the same algorithm should give the same heatmap.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def photos(n):
    from skimage import data

    from actmax_widgets.photos import fit_photo

    names = ["chelsea", "coffee", "astronaut", "rocket", "cat", "immunohistochemistry", "colorwheel", "retina"]
    base = [fit_photo(getattr(data, name)().astype("float32")[..., :3], 224) for name in names]
    return np.stack([base[k % len(base)] for k in range(n)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import actmax_widgets  # noqa: F401  (first: quiets TensorFlow's start-up lines)
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from actmax_widgets import grad_cam
    from actmax_widgets.models import efficientnet_lite0

    model = efficientnet_lite0()
    images = photos(args.images)
    classes = [int(c) for c in np.argmax(model.predict(images, verbose=0), axis=1)]
    theirs = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)

    def run_ours():
        return grad_cam(model, "predictions", classes, images, batch_size=args.batch_size)

    def run_theirs():
        maps = [theirs(CategoricalScore(classes[k:k + args.batch_size]), images[k:k + args.batch_size],
                       penultimate_layer="top_conv")
                for k in range(0, len(images), args.batch_size)]
        return np.concatenate(maps)

    first = {}
    for name, run in (("ours", run_ours), ("theirs", run_theirs)):
        start = time.perf_counter()
        run()
        first[name] = time.perf_counter() - start
    seconds = {"ours": [], "theirs": []}
    for round_index in range(args.rounds):
        order = [("ours", run_ours), ("theirs", run_theirs)]
        for name, run in order if round_index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            maps = run()
            seconds[name].append(time.perf_counter() - start)
            if name == "ours":
                ours_maps = maps
            else:
                theirs_maps = maps
    ratios = [t / o for o, t in zip(seconds["ours"], seconds["theirs"])]
    correlation = [float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in zip(ours_maps, theirs_maps)]
    result = {
        "images": len(images), "batch_size": args.batch_size, "rounds": args.rounds, "cpus": os.cpu_count(),
        "load_1min": os.getloadavg()[0], "tensorflow": tf.__version__,
        "ours_images_per_s": len(images) / float(np.median(seconds["ours"])),
        "theirs_images_per_s": len(images) / float(np.median(seconds["theirs"])),
        "speedup_median": float(np.median(ratios)),
        "first_call_s": first, "seconds": seconds,
        "map_correlation_median": float(np.median(correlation)), "map_correlation_min": float(np.min(correlation)),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
