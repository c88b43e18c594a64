"""A function of tensors compiled once by the active backend, for the forward passes and gradients
that attribution and evidence run batch after batch (the engine's optimization step, which also
keeps optimizer state, is ``steps``)."""
from __future__ import annotations

import keras

from . import name, unsupported_message


def compiled(fn, variables, signature, *, differentiates=True):
    """``fn(*tensors)`` compiled by the active backend; call it with numpy arrays.

    Parameters
    ----------
    fn : callable
        Tensors in, tensors out, written with ``keras.ops`` (and ``autodiff``).
    variables : list of keras.Variable
        Every variable ``fn`` reads (the model's ``variables``). JAX gets their current values as
        arguments (``keras.StatelessScope``): a later ``assign`` is seen, never baked in as a
        constant, and never retraces.
    signature : list of (shape, dtype)
        One per argument, ``None`` for a size that varies (the batch): TensorFlow traces once
        for any batch size; JAX traces once per batch size it sees.
    differentiates : bool
        False: ``fn`` takes no gradient, so PyTorch records none (less memory, faster).

    PyTorch runs ``fn`` eagerly: nothing to trace, the arguments placed on Keras's device.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, input_signature=[tf.TensorSpec(shape, dtype) for shape, dtype in signature])
    if backend == "jax":
        return _jax(fn, list(variables))
    if backend == "torch":
        return _torch(fn, differentiates)
    raise NotImplementedError(unsupported_message(backend))  # name() refuses others first


def _jax(fn, variables):
    import jax

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args)

    jitted = jax.jit(pure)
    return lambda *args: jitted([v.value for v in variables], *args)


def _torch(fn, differentiates):
    import torch

    def run(*args):
        args = [keras.ops.convert_to_tensor(arg) for arg in args]
        if differentiates:
            return fn(*args)
        with torch.no_grad():
            return fn(*args)

    return run
