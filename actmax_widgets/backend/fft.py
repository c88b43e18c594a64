"""The real 2-D inverse FFT, which ``keras.ops`` does not have (it has ``irfft`` on the last axis
only, and ``ifft2`` on full complex spectra): each backend's own, imported only when used."""
from __future__ import annotations

from . import name, unsupported_message


def irfft2d(real, imag, height, width):
    """The real images ``(..., height, width)`` whose half spectra (``width // 2 + 1`` columns, as
    ``numpy.fft.rfft2`` lays them out) have these real and imaginary parts, float32."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.signal.irfft2d(tf.complex(real, imag), fft_length=[height, width])
    if backend == "jax":
        import jax.numpy as jnp
        return jnp.fft.irfft2(real + 1j * imag, s=(height, width)).astype("float32")
    if backend == "torch":
        import torch
        return torch.fft.irfft2(torch.complex(real, imag), s=(height, width))
    raise NotImplementedError(unsupported_message(backend))  # name() refuses others first
