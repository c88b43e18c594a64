"""One optimization step per backend, behind one interface.

The step's math (parameters -> image -> transforms -> loss model -> loss terms, gradient
normalisation, best-image choice) is written once with ``keras.ops`` (``engine._Forward``). What
differs is how a backend takes the gradient, keeps the state between steps and compiles:

- TensorFlow (``step_tensorflow``): ``tf.function`` over ``tf.Variable``\\ s and a ``GradientTape``.
- JAX (``step_jax``): ``jax.jit`` of a pure function of the state, the optimizer's variables and
  every ``keras.Variable`` the step reads (``keras.StatelessScope``), ``optimizer.stateless_apply``.
- PyTorch (``step_torch``): eager, ``torch.autograd.grad`` and the Keras optimizer's ``apply``.

Every state has ``step(masks, weights, keys, step_index, warmup_steps, channels, sample_inputs)
-> (terms, total, grads, images)`` (backend tensors), ``reset(params, images)``,
``params_numpy()`` / ``set_params(array)``, ``best_images`` (a backend tensor),
``attribution_numpy()`` and ``tracing_count()``: how many times the step was traced (compiled),
which stays 1 while only the inputs' values change (filters, weights, seeds).

``forward`` (the engine's) provides ``image(params)``, ``gain(images, inputs) -> (gain, (terms,
total))``, ``context(inputs)`` (entered around the forward pass and its gradient: the ReLU
warm-up), ``attribution(image_grads)`` and ``finish(grads, total, images, best_score,
best_images) -> (grads, best_score, best_images)``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from . import name, unsupported_message


class StepInputs(NamedTuple):
    """What changes between runs of one traced step (tensors, never Python values: no retrace)."""

    masks: Any  # (B, channels) float32: which filters each sample targets
    weights: Any  # (n_terms,) float32 loss weights
    keys: Any  # the samples' random keys (``sample_random``)
    step_index: Any  # int32 scalar
    warmup_steps: Any  # int32 scalar
    channels: Any  # int32 channels a target head computes
    sample_inputs: Any  # nested per-sample data of ``per_sample_loss`` losses


def batch_state(forward, batch, param_shape, image_shape, optimizer, attributes, jit_compile, variables):
    """The state and compiled step for one batch size on the active backend.

    ``image_shape``: channels-last, no batch axis (the canvas when it is larger than the model's
    input); ``attributes``: accumulate |d gain / d image| (MACO's alpha); ``jit_compile``: XLA for
    TensorFlow's step (JAX always compiles with XLA; ignored by PyTorch); ``variables``: every
    ``keras.Variable`` the step reads (model weights, parameterization and transform state)."""
    backend = name()
    if backend == "tensorflow":
        from .step_tensorflow import TensorflowBatch as cls
    elif backend == "jax":
        from .step_jax import JaxBatch as cls
    elif backend == "torch":
        from .step_torch import TorchBatch as cls
    else:
        raise NotImplementedError(unsupported_message(backend))  # name() refuses others first
    return cls(forward, batch, tuple(param_shape), tuple(image_shape), optimizer, attributes, jit_compile,
               list(variables))


def keeps_value(optimizer_variable):
    """Whether a new run keeps this optimizer variable's value: its hyper-parameters (the learning
    rate, which the user set) stay; its state (moments, step count) starts again from zero."""
    return optimizer_variable.path.endswith("learning_rate")
