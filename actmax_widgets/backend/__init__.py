"""What differs between Keras 3's backends (TensorFlow, JAX, PyTorch), in one place.

Everything else in the package computes with ``keras.ops``; the few things it lacks (a real 2-D
inverse FFT, taking gradients, compiling a step) are here, one small module per concern, each
importing only the active backend's library, so importing the package with ``KERAS_BACKEND=jax``
or ``torch`` never imports TensorFlow.
"""
from __future__ import annotations

import keras


def name():
    """The active Keras backend: ``'tensorflow'``, ``'jax'`` or ``'torch'``."""
    return keras.backend.backend()
