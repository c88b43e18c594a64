"""Which device TensorFlow computes on, in words for a status line."""
from __future__ import annotations

import functools

import tensorflow as tf


@functools.cache
def device_name() -> str:
    """``'GPU: NVIDIA H100 80GB HBM3'`` or ``'CPU'``."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    except (ValueError, RuntimeError):
        name = None
    return f"GPU: {name}" if name else "GPU"
