"""PyTorch's step: eager, the gradient from ``torch.autograd.grad``, the update from the Keras
optimizer's ``apply`` on a ``keras.Variable`` holding the parameters. The state stays on the
device between steps (tensors, no host round trip).

Eager, not ``torch.compile``: nothing is traced, so new filters, weights or seeds cannot
retrace (``tracing_count`` stays 1). ``torch.compile`` of the forward pass is not measured against
it yet (session 22's shared CPU was too loaded for a fair 64-step comparison)."""
from __future__ import annotations

import keras
import numpy as np
import torch

from .steps import StepInputs, keeps_value


class TorchBatch:
    def __init__(self, forward, batch, param_shape, image_shape, optimizer, attributes, jit_compile, variables):
        self.forward = forward
        self.params = keras.Variable(np.zeros((batch,) + param_shape, "float32"), trainable=True)
        zeros = keras.ops.zeros
        self.best_images = zeros((batch,) + image_shape, "float32")
        self.best_score = keras.ops.full((batch,), np.inf, "float32")
        self.attribution = zeros((batch,) + image_shape[:-1], "float32") if attributes else None
        self.optimizer = optimizer
        self.optimizer.build([self.params])

    def tracing_count(self):
        return 1  # nothing is traced: the same Python step runs eagerly for any inputs

    def step(self, masks, weights, keys, step_index, warmup_steps, channels, sample_inputs):
        forward = self.forward
        inputs = StepInputs(masks, weights, keys, step_index, warmup_steps, channels, sample_inputs)
        params = self.params.value
        with forward.context(inputs):
            # clone: a value read now (the pixel parameterization returns the parameters
            # themselves, which the update changes in place).
            images = torch.clone(forward.image(params))
            gain, (terms, total) = forward.gain(images, inputs)
            wanted = [params] if self.attribution is None else [params, images]
            grads = torch.autograd.grad(gain, wanted)
        with torch.no_grad():
            if self.attribution is not None:
                self.attribution = self.attribution + forward.attribution(grads[1])
            grads, self.best_score, self.best_images = forward.finish(
                -grads[0], total.detach(), images.detach(), self.best_score, self.best_images)
            self.optimizer.apply([grads], [self.params])
        return terms.detach(), total.detach(), grads, images.detach()

    def reset(self, params, images):
        self.params.assign(params)
        self.best_images = keras.ops.convert_to_tensor(np.asarray(images, "float32"))
        self.best_score = keras.ops.full_like(self.best_score, np.inf)
        if self.attribution is not None:
            self.attribution = torch.zeros_like(self.attribution)
        for variable in self.optimizer.variables:
            if not keeps_value(variable):
                variable.assign(torch.zeros_like(variable.value))

    def params_numpy(self):
        return keras.ops.convert_to_numpy(self.params.value)

    def set_params(self, value):
        self.params.assign(np.asarray(value, "float32"))

    def attribution_numpy(self):
        return None if self.attribution is None else keras.ops.convert_to_numpy(self.attribution)
