"""Gradients of a function of tensors, with the active backend's own autodiff (``GradientTape``,
``jax.value_and_grad``, ``torch.autograd.grad``): the one thing ``keras.ops`` cannot do."""
from __future__ import annotations

from . import name, unsupported_message


def value_and_gradients(fn, *args):
    """``fn(*args) -> (value, aux)`` with a scalar ``value``; returns ``(value, aux, grads)``,
    ``grads`` the list of d value / d arg (zeros where ``value`` does not depend on an arg).

    Eager here: callers that run it every step compile it around this call (``tf.function``,
    ``jax.jit``). Model weights get no gradient."""
    backend = name()
    if backend == "tensorflow":
        return _tensorflow(fn, args)
    if backend == "jax":
        import jax
        (value, aux), grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))), has_aux=True)(*args)
        return value, aux, list(grads)
    if backend == "torch":
        return _torch(fn, args)
    raise NotImplementedError(unsupported_message(backend))  # name() refuses others first


def _tensorflow(fn, args):
    import tensorflow as tf
    args = [tf.convert_to_tensor(arg) for arg in args]
    with tf.GradientTape() as tape:
        tape.watch(args)
        value, aux = fn(*args)
    grads = tape.gradient(value, args, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return value, aux, list(grads)


def _torch(fn, args):
    import torch
    args = [torch.as_tensor(arg).detach().requires_grad_(True) for arg in args]
    value, aux = fn(*args)
    grads = torch.autograd.grad(value, args, allow_unused=True)
    grads = [torch.zeros_like(arg) if grad is None else grad for arg, grad in zip(args, grads)]
    return value.detach(), _detached(aux), grads


def _detached(aux):
    import torch
    if isinstance(aux, torch.Tensor):
        return aux.detach()
    if isinstance(aux, (list, tuple)):
        return type(aux)(_detached(a) for a in aux)
    if isinstance(aux, dict):
        return {k: _detached(v) for k, v in aux.items()}
    return aux
