"""What differs between Keras 3's backends (TensorFlow, JAX, PyTorch), in one place.

Everything else in the package computes with ``keras.ops``; the few things it lacks (a real 2-D
inverse FFT, taking gradients, compiling a step) are here, one small module per concern, each
importing only the active backend's library, so importing the package with ``KERAS_BACKEND=jax``
or ``torch`` never imports TensorFlow.
"""
from __future__ import annotations

import keras


SUPPORTED = ("tensorflow", "jax", "torch")


def name():
    """The active Keras backend: ``'tensorflow'``, ``'jax'`` or ``'torch'``; another (``numpy``,
    ``openvino``: no gradients) is refused here, before any work, naming the fix."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise RuntimeError(unsupported_message(backend))
    return backend


def unsupported_message(backend):
    return (f"KERAS_BACKEND={backend!r}: actmax_widgets needs gradients, which Keras computes on "
            "'tensorflow', 'jax' and 'torch' only; set KERAS_BACKEND to one of them before Keras is imported.")
