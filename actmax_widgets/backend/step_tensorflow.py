"""TensorFlow's step: ``tf.function`` (XLA with ``jit_compile``) over ``tf.Variable``\\ s, the
gradient from a ``GradientTape``. The state stays on the device between steps."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .steps import StepInputs, keeps_value


class TensorflowBatch:
    def __init__(self, forward, batch, param_shape, image_shape, optimizer, attributes, jit_compile, variables):
        self.forward = forward
        self.params = tf.Variable(tf.zeros((batch,) + param_shape, tf.float32), trainable=True)
        self.best_variable = tf.Variable(tf.zeros((batch,) + image_shape, tf.float32))
        self.best_score = tf.Variable(tf.fill((batch,), np.inf), dtype=tf.float32)
        # On the device, added to by every step: no host round trip per step.
        self.attribution = tf.Variable(tf.zeros((batch,) + image_shape[:-1], tf.float32)) if attributes else None
        self.optimizer = optimizer
        self.optimizer.build([self.params])
        # The model's variables are captured by the trace: nothing to pass.
        self.step = tf.function(self._body, reduce_retracing=True, jit_compile=jit_compile)

    @property
    def best_images(self):
        # A tensor read now, not the variable: numpy's conversion of a tf.Variable (what
        # keras.ops.convert_to_numpy does with it) warns that __array__ takes no 'copy'.
        return self.best_variable.read_value()

    def tracing_count(self):
        return self.step.experimental_get_tracing_count()

    def _body(self, masks, weights, keys, step_index, warmup_steps, channels, sample_inputs):
        forward = self.forward
        inputs = StepInputs(masks, weights, keys, step_index, warmup_steps, channels, sample_inputs)
        with forward.context(inputs):
            with tf.GradientTape() as tape:
                # identity: a value read now. The pixel parameterization returns the variable
                # itself, which the step would otherwise return as read after the update.
                images = tf.identity(forward.image(self.params))
                gain, (terms, total) = forward.gain(images, inputs)
            # The loss's gradient, taken as minus the gain's (see engine._Forward.gain).
            if self.attribution is None:
                grads = -tape.gradient(gain, self.params)
            else:  # MACO's alpha: also where on the image the gain comes from
                grads, image_grads = tape.gradient(gain, [self.params, images])
                grads = -grads
                self.attribution.assign_add(forward.attribution(image_grads))
        grads, best_score, best_images = forward.finish(grads, total, images, self.best_score, self.best_variable)
        self.best_score.assign(best_score)
        self.best_variable.assign(best_images)
        self.optimizer.apply_gradients([(grads, self.params)])
        return terms, total, grads, images

    def reset(self, params, images):
        self.params.assign(params)
        self.best_variable.assign(images)
        self.best_score.assign(tf.fill(self.best_score.shape, np.inf))
        if self.attribution is not None:
            self.attribution.assign(tf.zeros_like(self.attribution))
        for variable in self.optimizer.variables:
            if not keeps_value(variable):
                variable.assign(tf.zeros_like(variable))

    def params_numpy(self):
        return self.params.numpy()

    def set_params(self, value):
        self.params.assign(value)

    def attribution_numpy(self):
        return None if self.attribution is None else self.attribution.numpy()
