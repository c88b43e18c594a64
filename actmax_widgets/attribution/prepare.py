"""What every attribution call does first: the model to compute with, the target layer, the
checked targets and the image batch, each bad argument refused before anything is traced."""
from __future__ import annotations

import dataclasses
import threading
import weakref

import keras
import numpy as np

from .. import arguments, catalogue, model_cut, model_facts
from ..visualization import _masks, _with_backprop_modifier
from . import inputs

_LINEAR = weakref.WeakKeyDictionary()  # working model -> {layer name: (copy scoring its logits, variable pairs)}
_LOCK = threading.Lock()


@dataclasses.dataclass
class Prepared:
    model: keras.Model  # the working model, after the linear output and the backprop modifier
    info: catalogue.LayerInfo  # the target layer in ``model``
    name: str  # the target layer's name as the user knows it (catalogue name)
    targets: list  # one per image
    images: np.ndarray  # (N, H, W, C) float32, channels-last, at the model's size
    masks: np.ndarray  # (N, channels) float32


def prepare(model, layer, targets, images, *, backprop_modifier=None, logits=True, input_range=(0, 255),
            targets_argument="targets"):
    """Everything an attribution needs, checked (see ``Prepared``); errors about ``targets`` call it
    ``targets_argument`` (keras-vis's wrappers: ``filter_indices``)."""
    arguments.check(model=model, layer=layer)
    facts = model_facts.of(model)  # nested models inlined; subclassed/integer-input models refused
    facts.check_computable()
    working = facts.working
    info = catalogue.describe_layer(working, facts.working_name(layer))
    if logits and _is_softmax(working.layers[info.index]):
        working = _linear_copy(working, info.name)
    working = _with_backprop_modifier(working, backprop_modifier)
    info = catalogue.describe_layer(working, info.name)  # the copies keep the layer names
    try:
        checked = catalogue.check_filter_indices(info, targets)
    except (TypeError, ValueError) as error:  # its messages say filter_indices: say what the caller wrote
        raise type(error)(str(error).replace("filter_indices", targets_argument)) from None
    batch = inputs.model_images(working, images, input_range=input_range)
    paired, repeat = inputs.pair_up(checked, len(batch), targets_argument)
    if repeat:
        batch = np.repeat(batch, len(paired), axis=0)
    return Prepared(working, info, facts.catalogue_name(info.name), paired, batch, _masks(paired, info.n_filters))


def _is_softmax(layer):
    # A softmax score rises most easily by lowering the other classes: its gradient says as much
    # about them as about the class, so maps are of the logit (keras-vis's examples swap in a
    # linear activation for the same reason; tf-keras-vis's ReplaceToLinear).
    return getattr(getattr(layer, "activation", None), "__name__", None) == "softmax"


def _linear_copy(working, name):
    """A copy of ``working`` whose layer ``name`` has a linear activation, with ``working``'s
    current weights. Every layer is rebuilt (``model_cut.with_linear_activation`` shares the
    others, whose ``output`` then stays in the first graph, and Grad-CAM reads a layer before the
    target), so the copy's variables are its own: they are set from the original's at every call,
    else a model trained or given ``set_weights`` after the first map would be explained with its
    old weights. The copy is one on-device assign per variable (a ResNet50's 100 MB: milliseconds,
    against the hundreds a map takes); the compiled steps of the copy are kept."""
    def clone_function(layer):
        try:
            return model_cut.rebuild_layer(layer, **({"activation": "linear"} if layer.name == name else {}))
        except (TypeError, ValueError, NotImplementedError):
            if layer.name == name:
                raise
            return layer  # a custom layer its config cannot rebuild: shared as it is

    with _LOCK:
        per_model = _LINEAR.setdefault(working, {})
        if name not in per_model:
            copy = model_facts.carry_names(working, model_cut.clone_with_weights(working, clone_function))
            # Pairs in set_weights' order (clone_with_weights relies on it too); a shared custom
            # layer pairs its variables with themselves and is left alone.
            per_model[name] = copy, [(mine, theirs) for mine, theirs in zip(copy.weights, working.weights)
                                     if mine is not theirs]
        copy, pairs = per_model[name]
        for mine, theirs in pairs:
            mine.assign(theirs.value)
        return copy


def layer_name(model, layer) -> str:
    """The name, in the working model and its copies (which keep the names), of ``layer`` as the
    user gives it: an index into ``model.layers``, a (catalogue) name or a layer object."""
    facts = model_facts.of(model)
    name = facts.working_name(layer)  # a trivial model's facts hand back what they got
    if isinstance(name, str):
        return name
    return catalogue.resolve_layer(facts.working, name).name
