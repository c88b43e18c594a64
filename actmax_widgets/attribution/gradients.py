"""One compiled step behind every attribution map: the gradient of each image's target score
with respect to the input (saliency) or to a layer's output (Grad-CAM, ``wrt_tensor``).

Each image of a batch has its own target as a row of a mask over the target layer's channels
(the same masks ``visualize_filters`` uses), so many photos and many classes run in one call of
one ``tf.function``; the masks and the batch size are inputs, so a new target or a new batch
size never retraces. The score of a conv filter is its mean over positions, of a dense unit the
unit, and a joint target sums its indices, as keras-vis's ``ActivationMaximization``.
"""
from __future__ import annotations

import collections
import functools
import threading
import weakref

import keras
import numpy as np
import tensorflow as tf

from .. import catalogue, utils

_STEPS = weakref.WeakKeyDictionary()  # model computed with -> ({key: step}, LRU {key with a callable: step})
_LOCK = threading.Lock()
# Steps kept per model for a user's callable (e.g. a grad_modifier lambda): each new callable is a
# new trace, and a notebook cell that makes a lambda at every run would pile them up for good.
CALLABLE_STEPS = 8


class GradientStep:
    """``step(images, masks)``: ``post(scores, wrt_value, grads, images)`` for a batch.

    Parameters
    ----------
    model : keras.Model
        The working model (``model_facts``), after any backprop modifier.
    target : catalogue.LayerInfo
        The layer whose channels (or units) are scored.
    wrt : catalogue.LayerInfo, optional
        The layer whose output the gradient is taken with respect to; None: the input image.
    post : callable
        TensorFlow code run inside the compiled step on its results (channels-last images,
        ``grads`` in the ``wrt`` layer's own layout).
    """

    def __init__(self, model, target, wrt, post):
        self.target, self.wrt, self.post = target, wrt, post
        self.channels_first = catalogue.model_is_channels_first(model)
        outputs = [model.layers[target.index].output]
        if wrt is not None:
            outputs.insert(0, model.layers[wrt.index].output)
        # Keras keeps only the layers between the input and these outputs: the head after the
        # target layer is never computed.
        self.forward = keras.Model(utils.model_input(model), outputs)
        shape = tuple(utils.model_input(model).shape[1:])
        image_shape = shape[1:] + shape[:1] if self.channels_first else shape
        # A partial (no __code__) per step: TensorFlow counts traces per code object, and one
        # trace for every model, layer and option would draw its "frequent retracing" warning.
        self.step = tf.function(functools.partial(GradientStep._step, self), input_signature=[
            tf.TensorSpec((None,) + tuple(image_shape), tf.float32),
            tf.TensorSpec((None, target.n_filters), tf.float32)])

    def _step(self, images, masks):
        with tf.GradientTape() as tape:
            tape.watch(images)
            x = tf.transpose(images, [0, 3, 1, 2]) if self.channels_first else images
            outputs = self.forward(x, training=False)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            wrt_value = images if self.wrt is None else outputs[0]
            scores = target_scores(outputs[-1], masks, self.target.channel_axis)
            total = tf.reduce_sum(scores)  # samples are independent: each gets its own gradient
        grads = tape.gradient(total, wrt_value)
        if grads is None:  # only a layer can be disconnected: the target always depends on the image
            raise ValueError(f"Layer '{self.target.name}' does not depend on layer '{self.wrt.name}': the gradient "
                             "is taken with respect to a layer before the target; pick an earlier layer.")
        return self.post(scores, wrt_value, grads, images)

    def __call__(self, images, masks, batch_size=32):
        """The step over ``images`` in chunks of ``batch_size`` (bounded memory); numpy results."""
        parts = [self.step(tf.constant(images[start:start + batch_size]), tf.constant(masks[start:start + batch_size]))
                 for start in range(0, len(images), batch_size)]
        if isinstance(parts[0], (tuple, list)):
            return tuple(np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0])))
        return np.concatenate([np.asarray(p) for p in parts])


def target_scores(output, masks, channel_axis):
    """(B,) float32: each sample's masked channels, each a mean over positions, summed."""
    output = tf.cast(output, tf.float32)
    rank = output.shape.rank
    if rank > 2:
        output = tf.reduce_mean(output, axis=[a for a in range(1, rank) if a != channel_axis])
    return tf.reduce_sum(output * masks, axis=1)


class ByIdentity:
    """A user's callable as part of a cache key: equal only to itself, hashable even when the
    callable is not, and holding it so its id is never reused by another while the key lives."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, ByIdentity) and other.value is self.value

    def __hash__(self):
        return id(self.value)


def option_key(option):
    """``option`` (a name, None or a callable) as part of a ``post_key``."""
    return option if option is None or isinstance(option, str) else ByIdentity(option)


def step_for(model, target, wrt, post, post_key):
    """The cached ``GradientStep`` of ``model`` for these layers and this ``post`` (by ``post_key``;
    of those keyed by a callable, ``CALLABLE_STEPS`` most recently used are kept)."""
    key = (target.index, None if wrt is None else wrt.index, post_key)
    with _LOCK:
        named, by_callable = _STEPS.setdefault(model, ({}, collections.OrderedDict()))
        steps = by_callable if any(isinstance(part, ByIdentity) for part in post_key) else named
        if key not in steps:
            steps[key] = GradientStep(model, target, wrt, post)
        if steps is by_callable:
            by_callable.move_to_end(key)
            while len(by_callable) > CALLABLE_STEPS:
                by_callable.popitem(last=False)
        return steps[key]


def normalize_maps(maps):
    """Each map (the first axis indexes them) min-max scaled to [0, 1] (keras-vis's ``normalize``);
    a constant map becomes zeros."""
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True)
    high = maps.max(axis=axes, keepdims=True)
    return ((maps - low) / (high - low + keras.config.epsilon())).astype("float32")
