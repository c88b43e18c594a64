"""Which device the active Keras backend computes on, in words for a status line."""
from __future__ import annotations

import functools

from . import backend


@functools.cache
def device_name() -> str:
    """``'GPU: NVIDIA H100 80GB HBM3'`` or ``'CPU'``, on TensorFlow, JAX or PyTorch."""
    name = backend.name()
    if name == "jax":
        return _jax_device()
    if name == "torch":
        return _torch_device()
    return _tensorflow_device()


def _tensorflow_device():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    except (ValueError, RuntimeError):
        name = None
    return f"GPU: {name}" if name else "GPU"


def _jax_device():
    import jax

    device = jax.devices()[0]  # the default backend's first device: a GPU or TPU when there is one
    if device.platform == "cpu":
        return "CPU"
    kind = getattr(device, "device_kind", "") or ""
    return f"{device.platform.upper()}: {kind}" if kind else device.platform.upper()


def _torch_device():
    import torch

    if not torch.cuda.is_available():
        return "CPU"
    return f"GPU: {torch.cuda.get_device_name(0)}"
