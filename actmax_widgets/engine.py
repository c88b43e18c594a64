"""The compiled optimization loop shared by every entry point.

``Problem`` fixes *what* is optimized: one Keras model from the image input to the loss terms
(Keras keeps only the layers the losses need, so the network is cut at the deepest one).
``CompiledOptimizer`` fixes *how*: parameterization, input transforms, gradient modifier,
normalisation and optimizer, and owns one compiled step per batch size (``backend.steps``:
``tf.function``, ``jax.jit`` or eager PyTorch). Which filters each
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
from keras import ops

from . import names, sample_random
from .backend import steps
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
        return ops.transpose(images, [0, rank - 1] + list(range(1, rank - 1)))

    def from_model_format(self, array):
        """A numpy batch in the model's layout, channels-last."""
        return np.moveaxis(array, 1, -1) if self.channels_first else array


def gram_similarity(features, masks):
    """(B,) mean cosine similarity of each sample's Gram matrix with those of the other samples
    that have the same target (the same mask row); 0 for a sample without such copies."""
    features = ops.cast(features, "float32")
    channels = features.shape[-1]
    flat = ops.reshape(features, (ops.shape(features)[0], -1, channels))
    gram = ops.einsum("bpc,bpd->bcd", flat, flat) / ops.cast(ops.shape(flat)[1], "float32")
    gram = ops.reshape(gram, (-1, channels * channels))
    # l2-normalized as tf.math.l2_normalize does (the same float32 results as before on TensorFlow).
    gram = gram * ops.rsqrt(ops.maximum(ops.sum(ops.square(gram), axis=1, keepdims=True), 1e-12))
    similarity = ops.matmul(gram, ops.transpose(gram))
    same = ops.all(ops.equal(masks[:, None, :], masks[None, :, :]), axis=-1)
    same = ops.cast(same, "float32") * (1.0 - ops.eye(ops.shape(masks)[0]))
    return ops.sum(same * similarity, axis=1) / ops.maximum(ops.sum(same, axis=1), 1.0)


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
            term = -ops.sum(ops.cast(out, "float32") * masks, axis=1)
        elif problem.diverse[k]:
            term = gram_similarity(out, masks)
        elif len(out.shape) == 0:
            term = ops.broadcast_to(out, (batch,))
        else:
            term = ops.reshape(out, (batch, -1))[:, 0] if len(out.shape) > 1 else out
        terms.append(ops.cast(term, "float32"))
    return ops.stack(terms)


def _build(loss):
    try:
        return loss.build_loss()
    except Exception as error:  # a user's loss: say which one failed before the step is traced
        raise type(error)(f"Building loss '{loss.name}' ({type(loss).__name__}) failed: {error}") from error


@dataclasses.dataclass
class StepOutput:
    """What ``on_step`` sees after each step: numpy losses, and backend tensors fetched only on
    demand (``keras.ops.convert_to_numpy``)."""

    step: int
    terms: np.ndarray  # (n_terms, B) unweighted loss values
    total: np.ndarray  # (B,) weighted sum
    grads: object  # the (normalized, modified) gradient used for the update
    images: object  # (B, *image_shape) the images this step evaluated, channels-last
    best_images: object  # the best images so far


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
    """The backend's state and compiled step for one batch size (``backend.steps``), and the lock
    that lets one run at a time use it."""

    def __init__(self, owner, batch, param_shape, canvas_shape, image_shape):
        self.image_shape = tuple(canvas_shape)  # what params, best images and attribution have
        self.model_shape = tuple(image_shape)  # what the model sees (a canvas is resized to it)
        self.forward = _Forward(owner, self.model_shape)
        self.backend = steps.batch_state(self.forward, batch, param_shape, canvas_shape,
                                         make_optimizer(owner.optimizer_settings), owner.attributes,
                                         owner.jit_compile, owner.step_variables())
        # On TensorFlow the tf.function itself (``experimental_get_tracing_count``).
        self.step = self.backend.step
        self.traced = False
        self.lock = threading.Lock()  # one run at a time uses these variables

    def tracing_count(self):
        """How many times the step was traced (compiled): stays 1 while only filters, weights and
        seeds change, on every backend."""
        return self.backend.tracing_count()

    @property
    def best_images(self):
        return self.backend.best_images


class _Forward:
    """The step's math, written once with ``keras.ops`` for every backend: parameters -> image ->
    transforms -> (resized to the model's input) -> loss model -> loss terms; then gradient
    normalisation, the gradient modifier and the best-image choice. ``backend.steps`` takes the
    gradients, applies the update and compiles."""

    def __init__(self, owner, model_shape):
        self.owner = owner
        self.problem = owner.problem
        self.model_shape = model_shape

    def image(self, params):
        return self.owner.parameterization.to_image(params)

    @staticmethod
    def context(inputs):
        # Redirected ReLUs (the warm-up) build their gradient inside ``warming_up``.
        return warming_up(inputs.step_index < inputs.warmup_steps)

    def gain(self, images, inputs):
        """``(gain, (terms, total))``: the gain, what is maximized, is minus the summed loss. The
        loss's gradient is taken as minus the gain's: backprop modifiers ('guided', 'rectified')
        then see the gradient that raises the activations and keep its positive part; on the loss
        itself they would zero every gradient (d loss / d activation < 0), leaving the image unchanged."""
        problem, owner = self.problem, self.owner
        # Several random views of each image go through the model as one batch (views x B); each
        # view's loss terms are computed with the samples' own masks and inputs, then averaged.
        seen = [self.view(images, inputs, index) for index in range(owner.views)]
        seen = seen[0] if owner.views == 1 else ops.concatenate(seen, axis=0)
        outputs = problem.loss_model(problem.to_model_format(seen), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        per_view = zip(*[_split_views(out, owner.views) for out in outputs])
        terms = [_loss_terms(problem, list(view), inputs.masks, ops.shape(images)[0], inputs.channels,
                             inputs.sample_inputs) for view in per_view]  # each (n_terms, B)
        terms = terms[0] if owner.views == 1 else ops.mean(ops.stack(terms), axis=0)
        total = ops.sum(inputs.weights[:, None] * terms, axis=0)
        return -ops.sum(total), (terms, total)

    def view(self, images, inputs, index):
        """What the model sees of ``images`` in random view ``index`` of this step: the graph
        transforms with that view's draws, resized to the model's input."""
        seen = images
        if self.owner.graph_transforms:
            random = SampleRandom(inputs.keys, inputs.step_index).view(index)
            for transform in self.owner.graph_transforms:
                seen = transform.transform(seen, random)
        return _to_model_size(seen, self.model_shape)

    @staticmethod
    def attribution(image_grads):
        """(B, H, W): |d gain / d image| summed over channels, one step's share of MACO's alpha."""
        return ops.sum(ops.abs(image_grads), axis=-1)

    def finish(self, grads, total, images, best_score, best_images):
        """The gradient the update uses (normalized, modified) and the new best scores and images."""
        owner = self.owner
        if owner.norm_grads:
            axes = tuple(range(1, len(grads.shape)))
            grads = grads * ops.rsqrt(ops.maximum(ops.sum(ops.square(grads), axis=axes, keepdims=True), 1e-12))
        if owner.grad_modifier is not None:
            grads = owner.grad_modifier(grads)
        score = owner.best_sign * total
        improved = score < best_score
        best_score = ops.where(improved, score, best_score)
        improved = ops.reshape(improved, (-1,) + (1,) * (len(images.shape) - 1))
        return grads, best_score, ops.where(improved, images, best_images)


def _split_views(output, views):
    """A loss model output of ``views`` stacked batches as one list entry per view (a scalar
    output, which has no batch axis, is the same for every view)."""
    if views == 1 or len(output.shape) == 0:
        return [output] * views
    return ops.split(output, views, axis=0)


def _to_model_size(images, model_shape):
    """Images of another spatial size than the model's input (a parameterization's larger canvas,
    ``canvas_shape``) resized to it, bilinear."""
    if len(images.shape) != 4 or len(model_shape) != 3 or tuple(images.shape[1:3]) == tuple(model_shape[:2]):
        return images
    return ops.image.resize(images, tuple(model_shape[:2]), interpolation="bilinear", data_format="channels_last")


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
        # Random views of each image per step (a transform's ``views``, e.g. MACO's crops): the
        # gradient is their average, as Xplique's MACO averages many crops per step.
        self.views = max([int(getattr(t, "views", 1)) for t in self.graph_transforms] or [1])  # Transform.views
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

    def forget(self, batch):
        """Drop the state and compiled step of ``batch`` samples (after an out-of-memory error at
        that size: its variables would keep the device memory the smaller chunks need)."""
        with self._states_lock:
            self._states.pop(batch, None)

    def step_variables(self):
        """Every ``keras.Variable`` the step reads: the loss model's weights and the
        parameterization's, transforms' and gradient modifier's ``variables``, and a target head's
        layers, which sit after the loss model's output (JAX passes them into its compiled step as
        arguments instead of baking them in as constants)."""
        found, seen = [], set()
        heads = [layer for head in self.problem.heads if head is not None
                 for layer in (head.head.mixing, *head.head.per_channel)]
        for owner in [self.problem.loss_model, self.parameterization, self.grad_modifier, *self.graph_transforms,
                      *heads]:
            for variable in getattr(owner, "variables", None) or []:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    found.append(variable)
        return found

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
        canvas_shape = self.canvas_shape(image_shape)
        params0 = self.parameterization.init_params(keys, canvas_shape, input_range, seed_images)
        with self._states_lock:
            state = self._states.get(batch)
            if state is None or (state.image_shape, state.model_shape) != (canvas_shape, image_shape):
                state = self._states[batch] = _BatchState(self, batch, params0.shape[1:], canvas_shape, image_shape)
        with state.lock:
            return self._run(state, params0, keys, masks, weights, max_iter, on_step, should_stop, warmup_steps,
                             sample_inputs)

    def canvas_shape(self, image_shape):
        """What the parameterization optimizes for a model input of ``image_shape``: the same, or a
        larger canvas (``canvas_shape``, MACO) the step resizes to the model's input after the transforms."""
        canvas_shape = getattr(self.parameterization, "canvas_shape", None)
        return image_shape if canvas_shape is None else tuple(int(d) for d in canvas_shape(image_shape))

    def _run(self, state, params0, keys, masks, weights, max_iter, on_step, should_stop, warmup_steps,
             sample_inputs=None):
        images0 = ops.convert_to_numpy(self.parameterization.to_image(ops.convert_to_tensor(params0)))
        state.backend.reset(params0, images0)
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
            terms, total, grads, images = state.step(masks_t, weights_t, keys_t, ops.convert_to_tensor(i, "int32"),
                                                     warmup_t, channels_t, sample_t)
            terms_np, total_np = ops.convert_to_numpy(terms), ops.convert_to_numpy(total)
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
        sample_t = keras.tree.map_structure(ops.convert_to_tensor, sample_inputs if sample_inputs is not None else ())
        # A target head computes as many channels as there are samples (or all, for joint targets
        # using more); a fixed count, so other filters reuse the traced step.
        channels = head_channels(masks, min(batch, masks.shape[1])) if any(problem.heads) else np.zeros(1, np.int32)
        tensor = ops.convert_to_tensor
        return (tensor(masks), tensor(weights), tensor(sample_random.key_words(keys)),
                tensor(int(warmup_steps), "int32"), tensor(np.asarray(channels, np.int32)), sample_t)

    def _record(self, state, images0, terms_log, total_log, last, stopped, started, compile_seconds):
        """The ``RunRecord`` of a run: histories by step, best images, last step's tensors, attribution."""
        problem, batch = self.problem, int(images0.shape[0])
        n_steps = len(total_log)
        terms_hist = np.array(terms_log, "float32").reshape(n_steps, len(problem.names), batch)
        if problem.activation_term is None:
            activation = np.full((n_steps, batch), np.nan, "float32")
        else:
            activation = -terms_hist[:, problem.activation_term, :]
        best = ops.convert_to_numpy(state.best_images) if n_steps else images0
        last_grads, last_images = (None if x is None else ops.convert_to_numpy(x) for x in last)
        return RunRecord(
            best_params=state.backend.params_numpy(), best_images=best, term_history=terms_hist,
            loss_history=np.array(total_log, "float32").reshape(n_steps, batch),
            activation_history=activation, last_grads=last_grads, last_images=last_images,
            steps=n_steps, stopped=stopped, seconds=time.perf_counter() - started,
            compile_seconds=compile_seconds, attribution=state.backend.attribution_numpy(),
        )

    def _apply_host(self, state, phase):
        value = state.backend.params_numpy()
        modifiers = self.host_modifiers if phase == "pre" else list(reversed(self.host_modifiers))
        for modifier in modifiers:
            value = getattr(modifier, phase)(value)
        state.backend.set_params(np.asarray(value, "float32"))
