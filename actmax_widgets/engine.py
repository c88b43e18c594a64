"""The compiled optimization loop shared by every entry point.

``Problem`` fixes *what* is optimized: one Keras model from the image input to the loss terms
(Keras keeps only the layers the losses need, so the network is cut at the deepest one).
``CompiledOptimizer`` fixes *how*: parameterization, input transforms, gradient modifier,
normalisation and optimizer, and owns one ``tf.function`` step per batch size. Which filters each
sample targets (a mask), the loss weights and the random keys are tensors fed to that step, so
changing them never retraces. ``run`` drives the loop on the host: histories, callbacks,
snapshots and stopping between steps, returning everything reached so far.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from . import names
from .losses import ChannelActivations, ActivationMaximization, Diversity
from .relu_warmup import warming_up
from .sample_random import SampleRandom
from .target_head import TargetChannelActivations, head_channels

# RMSprop with these settings is keras-vis's hand-written update: cache = 0.95 cache + 0.05 g²,
# step = -g / sqrt(cache + 1e-7), on L2-normalized gradients.
KERAS_VIS_RMSPROP = {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-7}


def make_optimizer(settings):
    """A Keras optimizer from settings: RMSprop's keyword arguments, or ``{"optimizer": "adam",
    **its keyword arguments}`` for another Keras optimizer by name."""
    settings = dict(settings)
    name = settings.pop("optimizer", "rmsprop")
    return keras.optimizers.get({"class_name": name, "config": settings})


class Problem:
    """The losses of one optimization, wired into one Keras model.

    Parameters
    ----------
    input_tensor : symbolic tensor
        The model input (the image that is optimized).
    losses : list of (Loss, weight)
        Each loss's ``build_loss()`` expression becomes one output.
    channels_first : bool
        Whether ``input_tensor`` is ``(B, C, H, W)``; images are handled channels-last inside.
    precision : str
        What the model behind the losses computes in (``precision.resolve``), for reports.
    """

    def __init__(self, input_tensor, losses, channels_first=False, precision="float32"):
        if not losses:
            raise ValueError("No losses to optimize: give at least one (Loss, weight) pair.")
        self.losses = [loss for loss, _ in losses]
        self.names = [loss.name for loss in self.losses]
        self.default_weights = np.array([float(weight) for _, weight in losses], dtype="float32")
        self.channels_first = channels_first
        self.precision = precision
        outputs = [_build(loss) for loss in self.losses]
        # The losses' operations are named by a per-process counter: one may take the name of a
        # layer of a model loaded from a file (its 'add' and a loss's 'add').
        names.rename_clashing_operations([input_tensor], outputs)
        self.loss_model = keras.Model(input_tensor, outputs, name="actmax_losses")
        shape = tuple(input_tensor.shape[1:])
        self.image_shape = (shape[1:] + shape[:1]) if channels_first else shape
        self.masked = [isinstance(loss, ChannelActivations) for loss in self.losses]
        self.diverse = [isinstance(loss, Diversity) for loss in self.losses]
        # Losses that compute their own (B,) term from per-sample data fed to the step
        # (``objectives``: which channel, position, vector, coefficient each sample uses).
        self.per_sample = [callable(getattr(loss, "per_sample_loss", None)) for loss in self.losses]
        # Masked losses computed for the target channels only (``target_head``): their output is
        # the head's input, so their channel count comes from the loss.
        self.heads = [loss if isinstance(loss, TargetChannelActivations) else None for loss in self.losses]
        self.n_channels = [(head.n_channels if head else int(out.shape[-1])) if m else 0
                           for out, m, head in zip(outputs, self.masked, self.heads)]
        # The "activation" reported per step: the masked target, else the first
        # ActivationMaximization term (sign flipped), else none.
        self.activation_term = next(
            (k for k, loss in enumerate(self.losses)
             if isinstance(loss, (ChannelActivations, ActivationMaximization)) or self.per_sample[k]), None)

    def to_model_format(self, images):
        """Channels-last images (a tensor, or a numpy batch such as keras-vis's callbacks see) in
        the model's layout."""
        if not self.channels_first:
            return images
        if isinstance(images, np.ndarray):
            return np.moveaxis(images, -1, 1)
        rank = len(images.shape)
        return tf.transpose(images, [0, rank - 1] + list(range(1, rank - 1)))

    def from_model_format(self, array):
        """A numpy batch in the model's layout, channels-last."""
        return np.moveaxis(array, 1, -1) if self.channels_first else array


def gram_similarity(features, masks):
    """(B,) mean cosine similarity of each sample's Gram matrix with those of the other samples
    that have the same target (the same mask row); 0 for a sample without such copies."""
    features = tf.cast(features, tf.float32)
    channels = features.shape[-1]
    flat = tf.reshape(features, [tf.shape(features)[0], -1, channels])
    gram = tf.einsum("bpc,bpd->bcd", flat, flat) / tf.cast(tf.shape(flat)[1], tf.float32)
    gram = tf.math.l2_normalize(tf.reshape(gram, [-1, channels * channels]), axis=1)
    similarity = tf.matmul(gram, gram, transpose_b=True)
    same = tf.reduce_all(tf.equal(masks[:, None, :], masks[None, :, :]), axis=-1)
    same = tf.cast(same, tf.float32) * (1.0 - tf.eye(tf.shape(masks)[0]))
    return tf.reduce_sum(same * similarity, axis=1) / tf.maximum(tf.reduce_sum(same, axis=1), 1.0)


def _loss_terms(problem, outputs, masks, batch, channels, sample_inputs):
    """(n_terms, B) float32: each loss model output as one value per sample. ``channels``: the
    channels a target head computes (``target_head.head_channels``); ``sample_inputs``: the
    per-sample data of ``per_sample_loss`` losses."""
    terms = []
    for k, out in enumerate(outputs):
        if problem.per_sample[k]:
            term = problem.losses[k].per_sample_loss(out, sample_inputs)
        elif problem.heads[k] is not None:
            term = -problem.heads[k].weighted_sum(out, channels, masks)
        elif problem.masked[k]:
            # float32 whatever the model computes in (bfloat16 models too).
            term = -tf.reduce_sum(tf.cast(out, tf.float32) * masks, axis=1)
        elif problem.diverse[k]:
            term = gram_similarity(out, masks)
        elif out.shape.rank == 0:
            term = tf.fill([batch], out)
        else:
            term = tf.reshape(out, [batch, -1])[:, 0] if out.shape.rank > 1 else out
        terms.append(tf.cast(term, tf.float32))
    return tf.stack(terms)


def _build(loss):
    try:
        return loss.build_loss()
    except Exception as error:  # a user's loss: say which one failed before TF's trace
        raise type(error)(f"Building loss '{loss.name}' ({type(loss).__name__}) failed: {error}") from error


@dataclasses.dataclass
class StepOutput:
    """What ``on_step`` sees after each step: numpy losses, and tensors fetched only on demand."""

    step: int
    terms: np.ndarray  # (n_terms, B) unweighted loss values
    total: np.ndarray  # (B,) weighted sum
    grads: tf.Tensor  # the (normalized, modified) gradient used for the update
    images: tf.Tensor  # (B, *image_shape) the images this step evaluated, channels-last
    best_images: tf.Variable  # the best images so far


@dataclasses.dataclass
class RunRecord:
    """What one ``CompiledOptimizer.run`` reached (everything stays valid after a stop)."""

    best_params: np.ndarray
    best_images: np.ndarray  # (B, *image_shape) channels-last, in the input range
    term_history: np.ndarray  # (steps, n_terms, B)
    loss_history: np.ndarray  # (steps, B) weighted total
    activation_history: np.ndarray  # (steps, B); NaN where the problem has no activation term
    last_grads: np.ndarray | None
    last_images: np.ndarray | None
    steps: int
    stopped: bool
    seconds: float
    compile_seconds: float
    # (B, H, W): |d gain / d image| summed over channels and steps, for a parameterization with
    # ``accumulates_attribution`` (MACO's alpha mask: where the feature is); else None.
    attribution: np.ndarray | None = None


class _BatchState:
    """Variables and the traced step for one batch size."""

    def __init__(self, owner, batch, param_shape, image_shape):
        self.image_shape = tuple(image_shape)
        self.params = tf.Variable(tf.zeros((batch,) + tuple(param_shape), tf.float32), trainable=True)
        self.best_images = tf.Variable(tf.zeros((batch,) + tuple(image_shape), tf.float32))
        self.best_score = tf.Variable(tf.fill((batch,), np.inf), dtype=tf.float32)
        # On the device, added to by every step: no host round trip per step.
        self.attribution = tf.Variable(tf.zeros((batch,) + tuple(image_shape[:-1]), tf.float32)) \
            if owner.attributes else None
        self.optimizer = make_optimizer(owner.optimizer_settings)
        self.optimizer.build([self.params])
        self.step = tf.function(owner.step_body(self), reduce_retracing=True,
                                jit_compile=owner.jit_compile)
        self.traced = False
        self.lock = threading.Lock()  # one run at a time uses these variables

    def reset(self, params, images):
        self.params.assign(params)
        self.best_images.assign(images)
        self.best_score.assign(tf.fill(self.best_score.shape, np.inf))
        if self.attribution is not None:
            self.attribution.assign(tf.zeros_like(self.attribution))
        # Fresh optimizer state (moments, step count) but keep its hyper-parameter variables.
        for variable in self.optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(tf.zeros_like(variable))


class CompiledOptimizer:
    """Runs a ``Problem`` with fixed settings, for any targets, weights and seeds.

    Parameters
    ----------
    problem : Problem
    parameterization : object with ``init_params`` / ``to_image`` (see ``parameterizations``)
    transforms : list
        Graph input modifiers (``transform(images, random)``); host-only ``InputModifier``\\ s
        (``pre``/``post`` only) are run around each step instead.
    grad_modifier : callable or None
        Applied to the (normalized) gradient before the update.
    norm_grads : bool
        L2-normalize each sample's gradient, as keras-vis (per sample, so a batch of filters
        behaves like each filter alone).
    maximize_loss : bool
        Keep the image with the *highest* loss as the best (for ``grad_modifier='negate'``).
    """

    def __init__(self, problem, parameterization, transforms=(), grad_modifier=None, norm_grads=True,
                 maximize_loss=False, optimizer_settings=None, jit_compile=False):
        self.problem = problem
        self.parameterization = parameterization
        self.graph_transforms = [t for t in transforms if getattr(t, "transform", None) is not None]
        self.host_modifiers = [t for t in transforms if getattr(t, "transform", None) is None]
        self.grad_modifier = grad_modifier
        self.norm_grads = norm_grads
        self.best_sign = -1.0 if maximize_loss else 1.0
        self.optimizer_settings = dict(optimizer_settings or KERAS_VIS_RMSPROP)
        self.jit_compile = jit_compile
        self.attributes = bool(getattr(parameterization, "accumulates_attribution", False))
        self._states = {}
        self._states_lock = threading.Lock()

    def is_traced(self, batch):
        """Whether a run with ``batch`` samples reuses an already traced step."""
        state = self._states.get(batch)
        return state is not None and state.traced

    # -- the compiled step ------------------------------------------------------------------
    def step_body(self, state):
        problem = self.problem

        def step(masks, weights, keys, step_index, warmup_steps, channels, sample_inputs):
            random = SampleRandom(keys, step_index)
            # Redirected ReLUs (the warm-up) build their gradient inside ``warming_up``.
            with warming_up(step_index < warmup_steps):
                with tf.GradientTape() as tape:
                    # identity: a value read now. The pixel parameterization returns the variable
                    # itself, which the step would otherwise return as read after the update.
                    images = tf.identity(self.parameterization.to_image(state.params))
                    seen = images
                    for transform in self.graph_transforms:
                        seen = transform.transform(seen, random)
                    outputs = problem.loss_model(problem.to_model_format(seen), training=False)
                    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
                    terms = _loss_terms(problem, outputs, masks, tf.shape(images)[0], channels,
                                        sample_inputs)  # (n_terms, B)
                    total = tf.reduce_sum(weights[:, None] * terms, axis=0)
                    gain = -tf.reduce_sum(total)  # what is maximized
                # The loss's gradient, taken as minus the gain's: backprop modifiers ('guided',
                # 'rectified') then see the gradient that raises the activations and keep its
                # positive part; on the loss itself they would zero every gradient
                # (d loss / d activation < 0), leaving the image unchanged.
                if state.attribution is None:
                    grads = -tape.gradient(gain, state.params)
                else:  # MACO's alpha: also where on the image the gain comes from
                    grads, image_grads = tape.gradient(gain, [state.params, images])
                    grads = -grads
                    state.attribution.assign_add(tf.reduce_sum(tf.abs(image_grads), axis=-1))
            if self.norm_grads:
                axes = list(range(1, grads.shape.rank))
                grads = grads * tf.math.rsqrt(
                    tf.maximum(tf.reduce_sum(tf.square(grads), axis=axes, keepdims=True), 1e-12))
            if self.grad_modifier is not None:
                grads = self.grad_modifier(grads)
            score = self.best_sign * total
            improved = score < state.best_score
            state.best_score.assign(tf.where(improved, score, state.best_score))
            mask_shape = [-1] + [1] * (images.shape.rank - 1)
            state.best_images.assign(tf.where(tf.reshape(improved, mask_shape), images, state.best_images))
            state.optimizer.apply_gradients([(grads, state.params)])
            return terms, total, grads, images

        return step

    # -- the host loop ----------------------------------------------------------------------
    def run(self, keys, masks=None, weights=None, max_iter=200, seed_images=None, input_range=(0, 255),
            on_step=None, should_stop=None, image_shape=None, warmup_steps=0, sample_inputs=None):
        """Optimize one batch; ``keys`` (one per sample) seed the start images and random draws.

        ``warmup_steps``: for that many first steps, ReLUs of a ``relu_warmup.redirected`` model
        pass redirected gradients.

        ``on_step(StepOutput)`` is called after each step (returning ``False`` stops the run);
        ``should_stop()`` is polled between steps. ``image_shape`` (channels-last, no batch axis)
        is needed only where the problem's input has unknown dimensions. ``sample_inputs``: a
        nested structure of per-sample arrays for the problem's ``per_sample_loss`` losses (new
        values of the same shapes reuse the traced step). Returns a ``RunRecord``.
        Runs of one batch size from several threads take turns (they share its variables: two
        widgets on one model, a widget tracing ahead while a script runs).
        """
        batch = len(keys)
        image_shape = tuple(self.problem.image_shape if image_shape is None else image_shape)
        if any(d is None for d in image_shape):
            raise ValueError(f"The input has unknown dimensions {image_shape}: give an image_shape.")
        params0 = self.parameterization.init_params(keys, image_shape, input_range, seed_images)
        with self._states_lock:
            state = self._states.get(batch)
            if state is None or state.image_shape != image_shape:
                state = self._states[batch] = _BatchState(self, batch, params0.shape[1:], image_shape)
        with state.lock:
            return self._run(state, params0, keys, masks, weights, max_iter, on_step, should_stop, warmup_steps,
                             sample_inputs)

    def _run(self, state, params0, keys, masks, weights, max_iter, on_step, should_stop, warmup_steps,
             sample_inputs=None):
        images0 = self.parameterization.to_image(tf.constant(params0))
        state.reset(params0, images0)
        masks_t, weights_t, keys_t, warmup_t, channels_t, sample_t = self._step_constants(
            keys, masks, weights, warmup_steps, sample_inputs)

        terms_log, total_log = [], []
        last_grads = last_images = None
        stopped = False
        started = time.perf_counter()
        compile_seconds = 0.0
        for i in range(max_iter):
            if should_stop is not None and should_stop():
                stopped = True
                break
            if self.host_modifiers:
                self._apply_host(state, "pre")
            step_started = time.perf_counter()
            terms, total, grads, images = state.step(masks_t, weights_t, keys_t, tf.constant(i, tf.int64), warmup_t,
                                                  channels_t, sample_t)
            terms_np, total_np = terms.numpy(), total.numpy()
            if not state.traced:
                state.traced = True
                compile_seconds = time.perf_counter() - step_started
            if self.host_modifiers:
                self._apply_host(state, "post")
            if not np.all(np.isfinite(total_np)):
                raise FloatingPointError(
                    f"The loss became {total_np} at step {i}: lower the loss weights or the "
                    "input range, or check the model for NaN-producing layers."
                )
            terms_log.append(terms_np)
            total_log.append(total_np)
            last_grads, last_images = grads, images
            output = StepOutput(i, terms_np, total_np, grads, images, state.best_images)
            if on_step is not None and on_step(output) is False:
                stopped = True
                break
        return self._record(state, images0, terms_log, total_log, (last_grads, last_images), stopped, started,
                            compile_seconds)

    def _step_constants(self, keys, masks, weights, warmup_steps, sample_inputs):
        """The step's per-run inputs as tensors: masks, weights, keys, warm-up, head channels, sample data."""
        problem, batch = self.problem, len(keys)
        n_masked = max(problem.n_channels) if any(problem.masked) else 1
        masks = np.zeros((batch, n_masked), "float32") if masks is None else np.asarray(masks, "float32")
        weights = problem.default_weights if weights is None else np.asarray(weights, "float32")
        sample_t = tf.nest.map_structure(tf.constant, sample_inputs if sample_inputs is not None else ())
        # A target head computes as many channels as there are samples (or all, for joint targets
        # using more); a fixed count, so other filters reuse the traced step.
        channels_t = tf.constant(head_channels(masks, min(batch, masks.shape[1])) if any(problem.heads)
                                 else np.zeros(1, np.int32))
        return (tf.constant(masks), tf.constant(weights), tf.constant(np.asarray(keys, dtype=np.int64)),
                tf.constant(int(warmup_steps), tf.int64), channels_t, sample_t)

    def _record(self, state, images0, terms_log, total_log, last, stopped, started, compile_seconds):
        """The ``RunRecord`` of a run: histories by step, best images, last step's tensors, attribution."""
        problem, batch = self.problem, int(images0.shape[0])
        steps = len(total_log)
        terms_hist = np.array(terms_log, "float32").reshape(steps, len(problem.names), batch)
        if problem.activation_term is None:
            activation = np.full((steps, batch), np.nan, "float32")
        else:
            activation = -terms_hist[:, problem.activation_term, :]
        best = state.best_images.numpy() if steps else images0.numpy()
        last_grads, last_images = last
        return RunRecord(
            best_params=state.params.numpy(), best_images=best, term_history=terms_hist,
            loss_history=np.array(total_log, "float32").reshape(steps, batch),
            activation_history=activation,
            last_grads=None if last_grads is None else last_grads.numpy(),
            last_images=None if last_images is None else last_images.numpy(),
            steps=steps, stopped=stopped, seconds=time.perf_counter() - started,
            compile_seconds=compile_seconds,
            attribution=None if state.attribution is None else state.attribution.numpy(),
        )

    def _apply_host(self, state, phase):
        value = state.params.numpy()
        modifiers = self.host_modifiers if phase == "pre" else list(reversed(self.host_modifiers))
        for modifier in modifiers:
            value = getattr(modifier, phase)(value)
        state.params.assign(np.asarray(value, "float32"))
