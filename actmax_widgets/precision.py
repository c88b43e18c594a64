"""What the model computes in: ``'float32'``, ``'bfloat16'``, ``'float16'``, or ``'auto'``.

``'auto'`` picks bfloat16 where this machine makes it clearly faster, float32 everywhere else:

* a CPU with AMX (Intel Xeon 4th generation and later: the ``amx_bf16`` flag) and no depthwise or
  grouped convolution between the input and the visualized layer: bfloat16. Measured on a 2-core
  AMX Xeon, 16 filters at 128 px (bench/RESULTS.md §7b): VGG16 about 4×, ResNet50 1.7× and
  DenseNet121 1.3× faster than float32; the images are as good when the float32 model judges
  them (VGG16 with trained weights: 101% of float32's activation, EfficientNet-Lite0: 99%, §7);
* depthwise or grouped convolutions: float32. oneDNN has no AMX kernel for them and the casts
  around them cost more than the 1×1 convolutions gain (EfficientNet-Lite0 0.55×, MobileNetV2
  0.77×);
* no AMX (AMD, older Intel, Apple, ARM): float32. Without AMX, oneDNN emulates bfloat16 or uses
  AVX-512 BF16 dot products only; not measured, so not assumed faster;
* a GPU: float32. TensorFlow already runs float32 convolutions on tensor cores there (TF32, on
  Ampere and later); mixed precision on GPU is not measured yet.

The optimized image and its gradient stay float32 in every case (``model_cut.with_precision``).
"""
from __future__ import annotations

import functools

CHOICES = ("float32", "bfloat16", "float16", "auto")

# Layers whose bfloat16 kernels are slower than float32 on AMX CPUs (no AMX kernel in oneDNN).
_SLOW_IN_BFLOAT16 = ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D")


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


@functools.cache
def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def slow_layers(model) -> list:
    """Names of the layers of ``model`` that compute slower in bfloat16 than in float32 on AMX."""
    return [layer.name for layer in model.layers
            if type(layer).__name__ in _SLOW_IN_BFLOAT16 or getattr(layer, "groups", 1) > 1]


def resolve(precision, model) -> str:
    """``precision`` as the cut ``model`` will compute: ``'auto'`` becomes a concrete choice
    (see the module's docstring); the others are checked and returned as they are."""
    if precision not in CHOICES:
        raise ValueError(f"Unknown precision {precision!r}: use one of {', '.join(map(repr, CHOICES))}.")
    if precision != "auto":
        return precision
    import keras

    if _has_gpu() or "amx_bf16" not in cpu_flags() or slow_layers(model):
        return "float32"
    if not any(isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                                  keras.layers.Dense)) for layer in model.layers):
        return "float32"  # nothing for AMX to speed up
    return "bfloat16"
