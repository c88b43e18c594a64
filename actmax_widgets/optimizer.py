"""keras-vis's ``Optimizer``: minimize weighted losses with respect to the input image."""
from __future__ import annotations

import inspect

import keras
import numpy as np

from . import arguments, callbacks as callbacks_module
from . import grad_modifiers, input_modifiers as input_modifiers_module, model_cut, parameterizations, utils
from .cache_keys import optimizer_key
from .engine import CompiledOptimizer, Problem
from .sample_random import run_seed, sample_keys


class Optimizer:
    """Generates an input that minimizes a weighted sum of losses.

    Parameters
    ----------
    input_tensor : symbolic tensor
        The model input (``utils.model_input(model)``; ``model.input`` for functional models).
    losses : list of (Loss, weight)
        What to minimize; a weight of 0 drops that loss.
    input_range : tuple
        The range of valid input values, e.g. ``(0, 255)``; the result is mapped into it.
    wrt_tensor : symbolic tensor, optional
        The tensor the gradient is taken with respect to (a layer's output); default the input.
        As in keras-vis, the input is then never updated: ``minimize`` returns the seed and
        the gradient with respect to ``wrt_tensor`` (callbacks see it at every step).
    norm_grads : bool
        L2-normalize the gradient before each update (keras-vis's default).
    channels_first : bool, optional
        Whether the input is ``(B, C, H, W)``; default from ``keras.config.image_data_format()``.
    """

    def __init__(self, input_tensor, losses, input_range=(0, 255), wrt_tensor=None, norm_grads=True,
                 channels_first=None):
        arguments.check(losses=losses, input_range=input_range, norm_grads=norm_grads)
        if wrt_tensor is not None and not hasattr(wrt_tensor, "_keras_history"):
            raise TypeError(f"wrt_tensor={arguments.show(wrt_tensor)} is not a tensor of the model: pass a layer's "
                            "output, e.g. wrt_tensor=model.get_layer('conv1').output, or None for the input.")
        self.wrt_tensor = None if wrt_tensor is input_tensor else wrt_tensor
        self.input_tensor = input_tensor
        self.input_range = input_range
        self.norm_grads = norm_grads
        losses = self.losses = [(loss, weight) for loss, weight in losses if weight != 0]
        self.loss_names = [loss.name for loss, _ in losses]
        if channels_first is None:
            channels_first = keras.config.image_data_format() == "channels_first"
        self.problem = Problem(input_tensor, losses, channels_first=channels_first)
        self._compiled = {}

    def minimize(self, seed_input=None, max_iter=200, input_modifiers=None, grad_modifier=None,
                 callbacks=None, verbose=True, seed=None, image_size=None, param=None,
                 optimizer_settings=None, relu_warmup=0):
        """Run the optimization.

        Parameters
        ----------
        seed_input : array, optional
            The starting image, in the model's layout (with or without the batch axis); random
            noise around the middle of ``input_range`` when omitted.
        max_iter : int
            Number of steps.
        input_modifiers : list of InputModifier, optional
            E.g. ``[Jitter(0.05)]``.
        grad_modifier : str or callable, optional
            E.g. ``'negate'`` to maximize the losses instead.
        callbacks : list of OptimizerCallback, optional
        verbose : bool
            Print the losses at each step.
        seed : int, optional
            Makes the random start and the random transforms reproducible.
        image_size : int or (H, W), optional
            The size to optimize at where the input has unknown spatial size and no
            ``seed_input`` is given (default 128).
        param : str or object, optional
            Image parameterization (``'pixel'``, the default, is keras-vis's).
        optimizer_settings : dict, optional
            For ``engine.make_optimizer``, e.g. ``{"optimizer": "adam", "learning_rate": 0.05}``;
            default keras-vis's RMSprop.
        relu_warmup : int
            Redirected ReLU gradients for this many first steps, when the losses were built on a
            ``relu_warmup.redirected`` model (``visualize_activation`` does that for you).

        Returns
        -------
        (img, grads, wrt_value)
            The best image found (channels-last, deprocessed into ``input_range``), and the last
            step's gradients and input (model layout).
        """
        arguments.check(seed_input=seed_input, max_iter=max_iter, callbacks=callbacks, verbose=verbose, seed=seed,
                        image_size=image_size, optimizer_settings=optimizer_settings, relu_warmup=relu_warmup)
        grad_modifier_fn = grad_modifiers.get(grad_modifier)
        callbacks = list(callbacks or [])
        if verbose:
            callbacks.append(callbacks_module.Print())
        modifiers = input_modifiers_module.checked(input_modifiers)
        parameterization = parameterizations.get(param)
        key = (tuple(id(m) for m in modifiers), id(grad_modifier_fn), type(parameterization),
               optimizer_key(optimizer_settings))  # a schedule by its config, not its address
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = CompiledOptimizer(
                self.problem, parameterization, modifiers, grad_modifier_fn, self.norm_grads,
                maximize_loss=grad_modifier == "negate", optimizer_settings=optimizer_settings)

        seed_images, image_shape = self._start(seed_input, image_size)
        seed = run_seed(seed)
        if self.wrt_tensor is not None:
            return self._gradients_only(seed_images, image_shape, seed, max_iter, grad_modifier_fn, callbacks)

        def on_step(step):
            if not callbacks:
                return
            named = [(name, float(value)) for name, value in zip(self.loss_names, step.terms[:, 0])]
            grads = self.problem.to_model_format(keras.ops.convert_to_numpy(step.grads))
            wrt_value = self.problem.to_model_format(keras.ops.convert_to_numpy(step.images))
            for callback in callbacks:
                callback.callback(step.step, named, float(step.total[0]), grads, wrt_value)

        try:
            record = compiled.run(sample_keys(seed, [0]), max_iter=max_iter, seed_images=seed_images,
                                  input_range=self.input_range, on_step=on_step, image_shape=image_shape,
                                  warmup_steps=relu_warmup)
        finally:
            for callback in callbacks:
                callback.on_end()
        img = parameterization.display(record.best_images[0], self.input_range)
        grads = None if record.last_grads is None else self.problem.to_model_format(record.last_grads)
        wrt_value = None if record.last_images is None else self.problem.to_model_format(record.last_images)
        return img, grads, wrt_value

    def _gradients_only(self, seed_images, image_shape, seed, max_iter, grad_modifier, callbacks):
        """keras-vis with ``wrt_tensor`` not the input: the input never changes, so each of the
        ``max_iter`` steps computes the same losses and gradient (computed once here); returns
        the deprocessed seed, the gradient and the value of ``wrt_tensor``, in the model layout."""
        from .attribution.keras_vis import loss_gradients  # attribution imports this package's modules

        if seed_images is None:
            low, high = self.input_range
            rng = np.random.default_rng(seed)
            seed_images = utils.random_array((1,) + tuple(image_shape), mean=(low + high) / 2,
                                             std=0.05 * (high - low), rng=rng)  # keras-vis's start
        seed_input = self.problem.to_model_format(seed_images)
        grads, wrt_value, values = loss_gradients(self.input_tensor, self.losses, seed_input, self.wrt_tensor)
        if grad_modifier is not None:
            grads = np.asarray(grad_modifier(grads))
        named = [(name, float(np.sum(value))) for name, value in zip(self.loss_names, values)]
        try:
            for step in range(max_iter):
                for callback in callbacks:
                    callback.callback(step, named, sum(v * float(w) for (_, v), (_, w) in zip(named, self.losses)),
                                      grads, wrt_value)
        finally:
            for callback in callbacks:
                callback.on_end()
        return utils.deprocess_input(seed_images[0], self.input_range), grads, wrt_value

    def _start(self, seed_input, image_size):
        """The seed images (channels-last, or None) and the channels-last image shape to optimize."""
        shape = self.problem.image_shape
        if seed_input is not None:
            seed = np.asarray(seed_input, dtype="float32")
            if seed.ndim == len(shape):
                seed = seed[None]
            if self.problem.channels_first:
                seed = np.moveaxis(seed, 1, -1)
            if any(d is not None and d != s for d, s in zip(shape, seed.shape[1:])) or seed.shape[0] != 1:
                raise ValueError(
                    f"seed_input has shape {np.asarray(seed_input).shape}; the model takes one image "
                    f"of shape {tuple(self.input_tensor.shape[1:])}: resize the image to that shape "
                    "(with or without a batch axis of 1)."
                )
            return seed, seed.shape[1:]
        if any(d is None for d in shape):
            spatial, channels = shape[:-1], shape[-1]
            size = model_cut.DEFAULT_IMAGE_SIZE if image_size is None else image_size
            size = (int(size),) * len(spatial) if np.ndim(size) == 0 else tuple(int(d) for d in size)
            if channels is None or len(size) != len(spatial):
                raise ValueError(
                    f"The model input has unknown size {tuple(self.input_tensor.shape[1:])}: pass "
                    f"seed_input=an image, or image_size with {len(spatial)} values."
                )
            shape = tuple(s if d is None else d for d, s in zip(spatial, size)) + (channels,)
        return None, shape


# The keyword arguments the keras-vis entry points pass on to ``Optimizer`` (``norm_grads``,
# ``channels_first``) and ``Optimizer.minimize``: any other name is a typo worth naming.
MINIMIZE_KEYWORDS = frozenset(inspect.signature(Optimizer.minimize).parameters) - {"self"} | {
    "norm_grads", "channels_first"}
