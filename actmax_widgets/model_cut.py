"""Cut a model at a layer and, if asked, give the cut part a new input size.

Optimizing a conv filter only needs the layers up to it: the cut skips everything after (the
head is often most of the cost at the end of a network). A model built for 224 px can still be
visualized at 128 px when everything up to the layer is convolutional: the cut part is cloned
onto a new input and gets the same weights.
"""
from __future__ import annotations

import keras

from . import catalogue, model_facts, precision as precision_module, utils

DEFAULT_IMAGE_SIZE = 128


def rebuild_layer(layer, **config_overrides):
    """A new layer like ``layer`` from its config (with ``config_overrides``), weights not copied.

    A layer's config names its activation; a function Keras does not know by name (the gated
    ReLUs of backprop modifiers and of the ReLU warm-up) could not be looked up again, so the
    live function object goes back into the config instead.
    """
    config = layer.get_config()
    if callable(getattr(layer, "activation", None)) and "activation" in config:
        config["activation"] = layer.activation
    config.update(config_overrides)
    return layer.__class__.from_config(config)


def clone_with_weights(model, clone_function=rebuild_layer, **clone_options):
    """``keras.models.clone_model`` with ``rebuild_layer`` and the original weights copied over."""
    clone = keras.models.clone_model(model, clone_function=clone_function, **clone_options)
    clone.set_weights(model.get_weights())
    return clone


def input_image_size(model):
    """``(H, W, ...)`` spatial size of the model input (``None`` where unknown) and its channels."""
    shape = tuple(utils.model_input(model).shape[1:])
    if catalogue.model_is_channels_first(model):
        return shape[1:], shape[0]
    return shape[:-1], shape[-1]


def resolve_image_size(model, image_size):
    """The spatial size to optimize at: ``image_size`` (an int or a tuple), else the model's,
    else ``DEFAULT_IMAGE_SIZE`` for unknown dimensions."""
    model_size, _ = input_image_size(model)
    if image_size is None:
        return tuple(DEFAULT_IMAGE_SIZE if d is None else int(d) for d in model_size)
    size = (int(image_size),) * len(model_size) if isinstance(image_size, (int, float)) else tuple(
        int(d) for d in image_size)
    if len(size) != len(model_size):
        raise ValueError(f"image_size {image_size} has {len(size)} dimensions; the model input has "
                         f"{len(model_size)} spatial dimensions {model_size}.")
    if size and min(size) < 8:
        raise ValueError(f"image_size {size} is too small: use at least 8 pixels per side.")
    return size


def cut_at(model, layer, image_size=None):
    """A model from the input to ``layer``'s output, at ``image_size``.

    Returns ``(cut_model, info)``: ``cut_model.outputs[0]`` is the layer's output and
    ``info`` its ``LayerInfo`` in the original model.
    """
    info = catalogue.describe_layer(model, layer)
    target = model.layers[info.index]
    cut = keras.Model(utils.model_input(model), target.output, name=f"{model.name}_to_{target.name}")
    return _at_size(model, cut, image_size, f"'{target.name}'"), info


def cut_at_layers(model, layers, image_size=None):
    """A model from the input to the outputs of several ``layers`` (a list of outputs, in the
    order given), at ``image_size``: what objectives naming several layers compute with.
    Returns ``(cut_model, infos)``."""
    infos = [catalogue.describe_layer(model, layer) for layer in layers]
    targets = [model.layers[info.index] for info in infos]
    cut = keras.Model(utils.model_input(model), [target.output for target in targets],
                      name=f"{model.name}_to_{targets[-1].name}")
    return _at_size(model, cut, image_size, ", ".join(f"'{target.name}'" for target in targets)), infos


def _at_size(model, cut, image_size, what):
    """``cut`` (a model from ``model``'s input to ``what``) at ``image_size``."""
    size = resolve_image_size(model, image_size)
    model_size, channels = input_image_size(model)
    if all(m == s for m, s in zip(model_size, size)):
        return cut
    # A new size, or a concrete one for unknown (None) dimensions: the compiled step then has
    # static shapes.
    channels_first = catalogue.model_is_channels_first(model)
    new_shape = (channels,) + size if channels_first else size + (channels,)
    try:
        # The input keeps its name: a new one could be taken by a layer of a model loaded from a file.
        image = keras.Input(shape=new_shape, name=utils.model_input(model)._keras_history.operation.name)
        return clone_with_weights(cut, input_tensors=image)
    except Exception as error:
        _refuse_fixed_size(model, cut, size)
        raise ValueError(
            f"Model '{model.name}' takes images of size {model_size} and the layers up to "
            f"{what} cannot be rebuilt at {size} ({type(error).__name__}: {error}). Use "
            f"image_size={tuple(model_size)}, or build the model with input_shape=(None, None, "
            f"{channels}) so it takes any size."
        ) from error


def _refuse_fixed_size(model, cut, size):
    """A clear ValueError when a layer before ``cut``'s outputs pins the image size (a Flatten,
    a transformer's patch grid and position embeddings): which layer, and the size that works."""
    from . import image_sizes  # it imports this module

    for output in cut.outputs:
        sizes = image_sizes.sizes_for(model, output._keras_history.operation.name)
        if sizes.fixed:
            raise ValueError(f"image_size={size} does not work for layer '{sizes.layer}': {sizes.describe()}. "
                             f"Use image_size={sizes.suggest()!r}.") from None


def with_linear_activation(model, layer):
    """A model whose ``layer`` has a linear activation; the original model is left unchanged.

    A softmax output is maximized most easily by *lowering the other classes*, which gives
    muddy images; maximizing the logit (the linear output) shows the class itself. Only
    ``layer`` gets a new copy (with the same weights); all other layers are shared.
    """
    source = model_facts.of(model).working  # a nested layer is a layer of the working model
    target = catalogue.resolve_layer(source, model_facts.of(model).working_name(layer))
    if getattr(target, "activation", None) is None:
        raise ValueError(f"Layer '{layer}' has no activation to make linear.")
    if target.activation is keras.activations.linear:
        return model
    copies = []

    def clone_function(layer_to_clone):
        if layer_to_clone is not target:
            return layer_to_clone
        copies.append(rebuild_layer(layer_to_clone, activation="linear"))
        return copies[-1]

    linear = keras.models.clone_model(source, clone_function=clone_function)
    for copy in copies:
        copy.set_weights(target.get_weights())
    return model_facts.carry_names(source, linear)


def with_precision(model, precision):
    """A copy of ``model`` computing in ``precision`` (``'float32'``, ``'bfloat16'``, ``'float16'``).

    Reduced precision uses Keras's mixed policies: weights stay float32, convolutions and matrix
    products run in 16 bits (on CPUs with AMX / AVX-512 BF16 and on GPUs with tensor cores that is
    several times faster; elsewhere it can be slower — measure, bench/RESULTS.md). The input layer
    stays float32, so the optimized image and its gradient are float32.
    """
    policy = precision_module.POLICIES[precision_module.check(precision, tuple(precision_module.POLICIES))]
    if policy is None:
        return model

    try:
        return clone_with_weights(model, lambda layer: rebuild_layer(layer, dtype=keras.DTypePolicy(policy)))
    except Exception as error:
        raise ValueError(f"Model '{model.name}' cannot be rebuilt in {precision} ({type(error).__name__}: "
                         f"{error}); use precision='float32'.") from error
