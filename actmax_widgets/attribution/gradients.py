"""One compiled step behind every attribution map: the gradient of each image's target score
with respect to the input (saliency) or to a layer's output (Grad-CAM, ``wrt_tensor``).

Each image of a batch has its own target as a row of a mask over the target layer's channels
(the same masks ``visualize_filters`` uses), so many photos and many classes run in one call of
one compiled function (``backend.compiled``); the masks are an input, so a new target never
retraces (nor, on TensorFlow, a new batch size). The score of a conv filter is its mean over
positions, of a dense unit the unit, and a joint target sums its indices, as keras-vis's
``ActivationMaximization``.
"""
from __future__ import annotations

import collections
import functools
import threading
import weakref

import keras
import numpy as np
from keras import ops

from .. import catalogue, utils
from ..backend import autodiff
from ..backend.compiled import compiled

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
        ``keras.ops`` code run inside the compiled step on its results (channels-last images,
        ``grads`` in the ``wrt`` layer's own layout).
    image_shape : tuple
        The images' channels-last shape without the batch axis: known sizes, also for a model
        that takes any size, so ``post`` can resize to them with ``keras.ops``.
    """

    def __init__(self, model, target, wrt, post, image_shape):
        self.target, self.wrt, self.post = target, wrt, post
        self.channels_first = catalogue.model_is_channels_first(model)
        image_input, scored = utils.model_input(model), model.layers[target.index].output
        # Keras keeps only the layers between the inputs and the outputs: the head after the
        # target layer is never computed.
        if wrt is None:
            self.features, self.score_model = None, keras.Model(image_input, scored)
        else:
            features = model.layers[wrt.index].output
            if not depends_on(scored, features):
                raise ValueError(f"Layer '{target.name}' does not depend on layer '{wrt.name}': the gradient "
                                 "is taken with respect to a layer before the target; pick an earlier layer.")
            # Every backend differentiates with respect to a function's arguments, not a tensor
            # inside it: the layers after ``wrt`` take its output as an input (and the image,
            # for connections that skip past it).
            self.features = keras.Model(image_input, features)
            self.score_model = keras.Model([image_input, features], scored)
        # A partial (no __code__) per step: TensorFlow counts traces per code object, and one
        # trace for every model, layer and option would draw its "frequent retracing" warning.
        self.step = compiled(functools.partial(GradientStep._step, self), model.variables,
                             [((None,) + tuple(image_shape), "float32"), ((None, target.n_filters), "float32")])

    def _step(self, images, masks):
        def score(inputs):
            scores = target_scores(self.score_model(inputs, training=False), masks, self.target.channel_axis)
            return ops.sum(scores), scores  # samples are independent: each gets its own gradient

        def image_layout(images):
            return ops.transpose(images, [0, 3, 1, 2]) if self.channels_first else images

        if self.wrt is None:
            _, scores, (grads,) = autodiff.value_and_gradients(lambda x: score(image_layout(x)), images)
            return self.post(scores, images, grads, images)
        x = image_layout(images)
        features = self.features(x, training=False)
        _, scores, (grads,) = autodiff.value_and_gradients(lambda f: score([x, f]), features)
        return self.post(scores, features, grads, images)

    def __call__(self, images, masks, batch_size=32):
        """The step over ``images`` in chunks of ``batch_size`` (bounded memory); numpy results."""
        parts = [_numpy(self.step(images[start:start + batch_size], masks[start:start + batch_size]))
                 for start in range(0, len(images), batch_size)]
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))
        return np.concatenate(parts)


def _numpy(result):
    if isinstance(result, (tuple, list)):
        return tuple(ops.convert_to_numpy(part) for part in result)
    return ops.convert_to_numpy(result)


def depends_on(output, tensor):
    """Whether the Keras tensor ``output`` is computed from the Keras tensor ``tensor``."""
    pending, seen = [output], set()
    while pending:
        current = pending.pop()
        if current is tensor:
            return True
        if id(current) in seen:
            continue
        seen.add(id(current))
        operation, node_index, _ = current._keras_history
        if operation is not None:
            pending.extend(operation._inbound_nodes[node_index].input_tensors)
    return False


def target_scores(output, masks, channel_axis):
    """(B,) float32: each sample's masked channels, each a mean over positions, summed."""
    output = ops.cast(output, "float32")
    rank = len(output.shape)
    if rank > 2:
        output = ops.mean(output, axis=[a for a in range(1, rank) if a != channel_axis])
    return ops.sum(output * masks, axis=1)


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


def step_for(model, target, wrt, post, post_key, image_shape):
    """The cached ``GradientStep`` of ``model`` for these layers, this ``post`` (by ``post_key``;
    of those keyed by a callable, ``CALLABLE_STEPS`` most recently used are kept) and images of
    ``image_shape`` (channels-last, no batch axis)."""
    image_shape = tuple(int(d) for d in image_shape)
    key = (target.index, None if wrt is None else wrt.index, post_key, image_shape)
    with _LOCK:
        named, by_callable = _STEPS.setdefault(model, ({}, collections.OrderedDict()))
        steps = by_callable if any(isinstance(part, ByIdentity) for part in post_key) else named
        if key not in steps:
            steps[key] = GradientStep(model, target, wrt, post, image_shape)
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
