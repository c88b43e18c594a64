"""What the model computes in: ``'float32'``, ``'bfloat16'``, ``'float16'``, or ``'auto'``.

``'auto'`` picks bfloat16 where this machine is measured to compute it clearly faster, float32
everywhere else:

* a CPU with AMX (Intel Xeon 4th generation and later: the ``amx_bf16`` flag), a channels-last
  model with convolutions, and no depthwise, separable or grouped convolution between the input
  and the visualized layer: bfloat16. Measured on a 2-core AMX Xeon, 16 filters at 128 px
  (bench/RESULTS.md §7b): VGG16 about 4×, ResNet50 1.7×, DenseNet121 1.2–1.35× faster than
  float32. The images are as good when the float32 model judges them: 101 % of float32's
  activation on VGG16 with trained weights (§7; the other two were timed with random weights);
  This was measured with TensorFlow (oneDNN): with ``KERAS_BACKEND=jax`` or ``torch`` a CPU gets
  float32 (their CPU bfloat16 kernels were not measured);
* depthwise, separable or grouped convolutions: float32. oneDNN has no AMX kernel for them and
  the casts around them cost more than the 1×1 convolutions gain (EfficientNet-Lite0 0.53–0.59×,
  MobileNetV2 0.77–0.78×);
* a GPU: what ``bench/gpu.sh`` measured there, if it has run (``bench/gpu_bench.py`` writes
  ``actmax_widgets/data/gpu_precision.json``: bfloat16's speed-up over float32 per backend, for
  plain convolutions (VGG16) and for depthwise ones (EfficientNet-Lite0)): bfloat16 where the
  measured speed-up for the model's kind, on the active backend, is at least ``CLEARLY_FASTER``;
  float32 where it is lower or was not measured (no file, another backend). The GPU runs float32
  convolutions on tensor cores already (TF32, Ampere and later), so bfloat16 is not assumed faster;
* no AMX (AMD, older Intel, Apple, ARM), a model without convolutions (Dense only), a
  channels-first model, or a model nested inside the model (``model_cut.with_precision`` rebuilds
  the outer layers only): float32 — not measured, or not possible, so not assumed faster.

The optimized image and its gradient stay float32 in every case (``model_cut.with_precision``).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from . import arguments

# Keras's dtype policy for each concrete precision (None: the model as it is).
POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CHOICES = (*POLICIES, "auto")
# bench/gpu.sh's measurements on a GPU (absent until it has run on one; see the module docstring).
GPU_RESULTS = Path(__file__).resolve().parent / "data" / "gpu_precision.json"
# bfloat16 must beat float32 by this factor on a GPU to be picked: a smaller gain is within what
# the measured models' differences and the casts around unmeasured layers can take back.
CLEARLY_FASTER = 1.2


# Keras is imported where it is used: the CLI lists CHOICES before TensorFlow loads.
def _slow_in_bfloat16():
    """Layers whose bfloat16 kernels are slower than float32 on AMX CPUs (no AMX kernel in oneDNN)."""
    import keras

    return (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
            keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


def _convolutions():
    import keras

    return keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D


def check(precision, choices=CHOICES):
    """``precision`` if it is one of ``choices``, else a ValueError that lists them."""
    return arguments.check_choice("precision", precision, choices)


@functools.cache
def cpu_flags() -> frozenset:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none: macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _has_gpu() -> bool:
    """Whether the active Keras backend computes on a GPU (``device.device_name``, cached there)."""
    from .device import device_name

    return device_name().startswith("GPU")


def gpu_measurements(path=None):
    """``bench/gpu.sh``'s results (``GPU_RESULTS``) as a dict, or None where it has not run."""
    path = Path(GPU_RESULTS if path is None else path)
    try:
        return _read_json(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None  # no file, or an unreadable one: today's rule (float32 on a GPU)


@functools.lru_cache(maxsize=4)
def _read_json(path, mtime):  # mtime: a rewritten file is read again
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _measured_faster_on_gpu(model) -> bool:
    """Whether bfloat16 was measured clearly faster on a GPU, on this backend, for ``model``'s kind
    of convolutions (depthwise/grouped ones, like EfficientNet-Lite0's, or plain, like VGG16's)."""
    from .backend import name

    measured = gpu_measurements() or {}
    kind = "depthwise" if bfloat16_slow_layers(model) else "plain"
    speedup = measured.get("bfloat16_speedup", {}).get(name(), {}).get(kind)
    return isinstance(speedup, (int, float)) and speedup >= CLEARLY_FASTER


def _all_layers(model):
    """The layers of ``model``, those inside nested models (a backbone used as a layer) included."""
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def bfloat16_slow_layers(model) -> list:
    """Names of the layers of ``model`` that compute slower in bfloat16 than in float32 on AMX."""
    slow, convolutions = _slow_in_bfloat16(), _convolutions()
    return [layer.name for layer in _all_layers(model)
            if isinstance(layer, slow) or (isinstance(layer, convolutions) and getattr(layer, "groups", 1) > 1)]


def model_computes_in(model) -> str:
    """What ``model``'s layers compute in: ``'bfloat16'`` or ``'float16'`` when any layer does (a
    model built under a global ``keras.mixed_precision`` policy), else ``'float32'``."""
    dtypes = {str(getattr(layer, "compute_dtype", "float32")) for layer in _all_layers(model)}
    return next((name for name in ("bfloat16", "float16") if name in dtypes), "float32")


def resolve(precision, model) -> str:
    """``precision`` as the cut ``model`` will compute: ``'auto'`` becomes a concrete choice
    (see the module's docstring); the others are checked and returned as they are, except that
    ``'float32'`` (the model's own numbers) is what the model really computes in: a model built
    under a global mixed policy computes in bfloat16 or float16, and results must say so."""
    own = model_computes_in(model)
    if check(precision) != "auto":
        return own if precision == "float32" else precision
    import keras

    convolutions = [layer for layer in model.layers if isinstance(layer, _convolutions())]
    measured_kind = (  # what was measured: channels-last convolutions, no nested model
        convolutions and all(layer.data_format == "channels_last" for layer in convolutions)
        and not any(isinstance(layer, keras.Model) for layer in model.layers))
    if not measured_kind:
        return own
    if _has_gpu():
        return "bfloat16" if _measured_faster_on_gpu(model) else own
    from .backend import name

    # Measured with TensorFlow's oneDNN kernels; XLA's and PyTorch's CPU bfloat16 were not.
    faster_on_cpu = name() == "tensorflow" and "amx_bf16" in cpu_flags() and not bfloat16_slow_layers(model)
    return "bfloat16" if faster_on_cpu else own
