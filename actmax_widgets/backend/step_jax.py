"""JAX's step: one ``jax.jit`` of a pure function. The state (parameters, optimizer variables,
best images and scores, attribution) goes in and comes out as arrays; every ``keras.Variable``
the step reads (model weights, parameterization and transform state) is an argument too, mapped
back onto its variable with ``keras.StatelessScope``, so the weights are not baked into the
compiled program as constants and new values never retrace. Always compiled with XLA."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from .steps import StepInputs, keeps_value


class JaxBatch:
    def __init__(self, forward, batch, param_shape, image_shape, optimizer, attributes, jit_compile, variables):
        self.forward = forward
        self.params = jnp.zeros((batch,) + param_shape, "float32")
        self.best_images = jnp.zeros((batch,) + image_shape, "float32")
        self.best_score = jnp.full((batch,), np.inf, "float32")
        self.attribution = jnp.zeros((batch,) + image_shape[:-1], "float32") if attributes else None
        self.optimizer = optimizer
        # The optimizer is built on a variable of the parameters' shape; its updates are applied
        # statelessly to the arrays above.
        self._param_variable = keras.Variable(np.zeros((batch,) + param_shape, "float32"), trainable=True)
        self.optimizer.build([self._param_variable])
        self.optimizer_values = [v.value for v in optimizer.variables]
        self.variables = variables
        self._traces = 0
        self._jitted = jax.jit(self._pure)

    def tracing_count(self):
        return self._traces

    def step(self, masks, weights, keys, step_index, warmup_steps, channels, sample_inputs):
        inputs = StepInputs(masks, weights, keys, step_index, warmup_steps, channels, sample_inputs)
        state = (self.params, self.optimizer_values, self.best_images, self.best_score, self.attribution)
        state, outputs = self._jitted(state, [v.value for v in self.variables], inputs)
        self.params, self.optimizer_values, self.best_images, self.best_score, self.attribution = state
        return outputs

    def _pure(self, state, variable_values, inputs):
        self._traces += 1  # runs only while tracing
        params, optimizer_values, best_images, best_score, attribution = state
        forward = self.forward
        with keras.StatelessScope(state_mapping=list(zip(self.variables, variable_values))):
            with forward.context(inputs):
                # Two stages, so the gradient w.r.t. the image (MACO's attribution) comes too.
                images, image_vjp = jax.vjp(forward.image, params)
                (_, (terms, total)), image_grads = jax.value_and_grad(
                    lambda x: forward.gain(x, inputs), has_aux=True)(images)
                (grads,) = image_vjp(image_grads)
            grads = -grads  # the loss's gradient (see engine._Forward.gain)
            if attribution is not None:
                attribution = attribution + forward.attribution(image_grads)
            grads, best_score, best_images = forward.finish(grads, total, images, best_score, best_images)
        (params,), optimizer_values = self.optimizer.stateless_apply(optimizer_values, [grads], [params])
        return (params, optimizer_values, best_images, best_score, attribution), (terms, total, grads, images)

    def reset(self, params, images):
        self.params = jnp.asarray(params, "float32")
        self.best_images = jnp.asarray(images, "float32")
        self.best_score = jnp.full_like(self.best_score, np.inf)
        if self.attribution is not None:
            self.attribution = jnp.zeros_like(self.attribution)
        self.optimizer_values = [v.value if keeps_value(v) else jnp.zeros_like(v.value)
                                 for v in self.optimizer.variables]

    def params_numpy(self):
        return np.asarray(self.params)

    def set_params(self, value):
        self.params = jnp.asarray(value, "float32")

    def attribution_numpy(self):
        return None if self.attribution is None else np.asarray(self.attribution)
