"""A user's model, inspected once: the graph the library works on and the names a person uses.

Most models are used as they are. These are not:

* a model that calls another model as a layer (a ``keras.applications`` base inside a
  ``Sequential``, a functional model calling a sub-model): its inner layers have no output in
  the outer graph, so they could be neither cut at nor listed;
* a model whose layer names TensorFlow refuses as name scopes (``'my conv'``, ``'conv:1'``);
* a model built from an intermediate tensor (``keras.Model(embedding.output, model.output)``):
  Keras copies that graph, and its layers' own outputs stay in the first one.

For those, ``of(model)`` builds a *working model* once: the same computation as one flat
functional graph (nested models inlined, every layer a copy with the same weights and a legal,
unique name). The catalogue names a person uses stay the model's own: a top-level layer by its
name, a layer inside a nested model as ``'<nested model>/<layer>'`` (``'mobilenetv2_1.00_224/
block_5_add'``); ``ModelFacts`` translates between them and the working model's names. The
image is optimized at the outer model's input, through any layers before the nested model.

A model whose input is integer (token ids into an ``Embedding``) is refused here, before any
tracing: an integer input has no gradient. ``check_computable`` refuses, before any tracing too,
channels-first convolutions where TensorFlow has no kernel for them (CPUs).
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import weakref

import keras

from . import names, utils

_FACTS = weakref.WeakKeyDictionary()
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                 keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_LOCK = threading.Lock()


class ModelFacts:
    """What the library needs to know about one model (see the module's docstring).

    ``working``: the model the library computes with (the user's own when nothing needed
    changing). ``trivial``: True when that is the user's model and names need no translation.
    """

    def __init__(self, model, working=None, layer_names=None, aliases=None, by_id=None):
        self.model_name = model.name
        self.top_names = [layer.name for layer in model.layers]
        self.trivial = working is None
        self._model = weakref.ref(model)
        self._working = working  # held here: nothing else keeps the copy alive
        self.to_catalogue = {w: c for c, w in (layer_names or {}).items()}
        # Nested models' names stand for their output layer.
        self.to_working = {**(aliases or {}), **(layer_names or {})}
        self.by_id = by_id or {}  # id(a layer of the user's model, nested ones too) -> catalogue name

    @property
    def working(self):
        return self._model() if self._working is None else self._working

    def sharing_names_with(self, copy):
        """Facts for ``copy``, a copy of the working model keeping its layer names."""
        facts = ModelFacts.__new__(ModelFacts)
        facts.__dict__.update(self.__dict__)
        facts._model, facts._working = weakref.ref(copy), None  # the copy is the key: no strong ref
        return facts

    def working_name(self, layer):
        """The working model's name for ``layer``: a catalogue name, an index into the user's
        ``model.layers``, a layer of the model (nested ones too) or a working layer name. A
        nested model's own name stands for its output layer. A trivial model gets ``layer``
        back unchanged (the catalogue checks it)."""
        if self.trivial:
            return layer
        if isinstance(layer, keras.layers.Layer):
            if id(layer) in self.by_id:
                return self.to_working[self.by_id[id(layer)]]
            if layer in self.working.layers:
                return layer.name
            raise TypeError(f"Layer '{layer.name}' is not a layer of model '{self.model_name}'.")
        if isinstance(layer, int) and not isinstance(layer, bool):
            n = len(self.top_names)
            if not -n <= layer < n:
                raise ValueError(f"layer_idx {layer} is out of range: model '{self.model_name}' has {n} "
                                 f"layers (valid: 0..{n - 1}, or a layer name).")
            layer = self.top_names[layer]
        if not isinstance(layer, str):
            raise TypeError(f"Expected a layer index, name or one of the model's layers, got {layer!r}.")
        if layer in self.to_working:
            return self.to_working[layer]
        if layer in self.to_catalogue:
            return layer
        shown = list(self.to_catalogue.values())
        listed = ", ".join(shown[:12]) + (", ..." if len(shown) > 12 else "")
        raise ValueError(f"No layer with name '{layer}' in model '{self.model_name}' (a layer inside a "
                         f"nested model is named '<nested model>/<layer>'). Layers: {listed}")

    def check_computable(self):
        """Raise a ValueError naming the fix when TensorFlow cannot compute the model here:
        channels-first convolutions on a CPU that has no kernel for them."""
        convs = [layer.name for layer in self.working.layers if isinstance(layer, _CONVOLUTIONS)
                 and getattr(layer, "data_format", None) == "channels_first"]
        if convs and not _channels_first_convs_run_here():
            raise ValueError(
                f"Model '{self.model_name}' has channels-first convolutions ({', '.join(convs[:3])}), which "
                "this TensorFlow cannot compute on this machine's CPU (its default kernels are channels-last "
                "only; no GPU found). Set the environment variable TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow "
                "is imported (a new process or kernel): its oneDNN kernels take channels-first. Or rebuild "
                "the model channels-last (the same layers with data_format='channels_last'; conv kernels "
                "have the same shape in both layouts, so the weights copy over).")

    def catalogue_name(self, working_name: str) -> str:
        """The name a person uses for the working model's layer ``working_name``."""
        return self.to_catalogue.get(working_name, working_name)

    def described(self, info):
        """``info`` (a ``catalogue.LayerInfo`` of the working model) under its catalogue name."""
        return dataclasses.replace(info, name=self.catalogue_name(info.name))


def of(model) -> ModelFacts:
    """The (cached) ``ModelFacts`` of ``model``.

    Raises
    ------
    TypeError
        Subclassed models (no symbolic graph), integer inputs.
    ValueError
        Several inputs.
    """
    image = utils.model_input(model)
    _check_differentiable(model, image)
    with _LOCK:
        facts = _FACTS.get(model)
        if facts is None:
            facts = _FACTS[model] = _inspect(model)
        return facts


def carry_names(source, copy):
    """Let ``copy`` (a copy of ``source`` keeping its layer names: a linear output, a backprop
    modifier) be addressed with ``source``'s catalogue names."""
    with _LOCK:
        facts = _FACTS.get(source)
        if facts is not None and not facts.trivial:
            _FACTS[copy] = facts.sharing_names_with(copy)
    return copy


def _check_differentiable(model, image):
    dtype = keras.backend.standardize_dtype(image.dtype)
    if "int" not in dtype and dtype != "bool":
        return
    embedding = next((layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)), None)
    start = f"model.get_layer('{embedding.name}').output" if embedding is not None else \
        "the output of the first layer that turns the ids into float vectors"
    raise TypeError(
        f"Model '{model.name}' takes integer input ({dtype}: token ids or indices), and an integer "
        "input has no gradient, so it cannot be optimized into the input that excites a filter. "
        f"Visualize from the float vectors instead: build sub = keras.Model({start}, model.output) "
        "and visualize sub (its input, the embedded sequence, is what gets optimized).")

@functools.cache
def _channels_first_convs_run_here() -> bool:
    """JAX and PyTorch compute channels-first convolutions everywhere; TensorFlow's default CPU
    kernels are channels-last only."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    try:
        tf.nn.conv2d(tf.zeros((1, 1, 3, 3)), tf.zeros((1, 1, 1, 1)), 1, "VALID", data_format="NCHW")
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return True


def _needs_working_model(model) -> bool:
    image_op = utils.model_input(model)._keras_history.operation
    if not names.is_scope_name(image_op.name):
        return True
    for layer in model.layers:
        if isinstance(layer, keras.Model) or not names.is_scope_name(layer.name):
            return True
        # A layer with several graphs: shared, or a model built from an intermediate tensor
        # (Keras copies that graph; the layers' own outputs stay in the first one).
        if len(layer._inbound_nodes) > 1:
            return True
    return False


def _inspect(model) -> ModelFacts:
    if not _needs_working_model(model):
        return ModelFacts(model)
    flat = _FlatCopy(model)
    facts = ModelFacts(model, flat.model, flat.layer_names, flat.aliases, flat.by_id)
    _FACTS[flat.model] = facts.sharing_names_with(flat.model)  # the working model answers to the same names
    return facts


class _FlatCopy:
    """``model`` as one flat functional graph of copied layers (see the module's docstring).

    ``layer_names`` maps each layer's catalogue name to its copy's name, ``aliases`` each nested
    model's catalogue name to its output layer's copy, ``by_id`` the user's layers to catalogue names.
    """

    def __init__(self, model):
        self.layer_names, self.aliases, self.by_id = {}, {}, {}
        self._copies = {}  # id(layer) -> its copy: a layer called twice stays one (shared) layer
        self._pairs = []  # (layer, copy) whose weights are copied once the graph is built
        # Top-level names TensorFlow accepts stay as they are.
        self._taken = {layer.name for layer in model.layers if names.is_scope_name(layer.name)}
        image = utils.model_input(model)
        image_name = names.unique_scope_name(image._keras_history.operation.name, self._taken)
        inputs = keras.Input(batch_shape=image.shape, dtype=image.dtype, name=image_name)
        outputs = self._run(model, inputs, prefix="")
        self.model = keras.Model(inputs, outputs, name=names.unique_scope_name(model.name, set()))
        for layer, copy in self._pairs:
            copy.set_weights(layer.get_weights())

    def _run(self, model, inputs, prefix):
        graph = model._functional if isinstance(model, keras.Sequential) else model

        def operation_fn(operation):
            if isinstance(operation, keras.Model):
                return lambda *args, **kwargs: self._nested(operation, args[0], prefix)
            return self._copy(operation, prefix)

        return graph._run_through_graph(inputs, operation_fn=operation_fn)

    def _nested(self, model, inputs, prefix):
        name = prefix + model.name
        outputs = self._run(model, inputs, prefix=name + "/")
        if isinstance(outputs, keras.KerasTensor):
            self.aliases[name] = outputs._keras_history.operation.name
            self.by_id[id(model)] = name
        return outputs

    def _copy(self, layer, prefix):
        from . import model_cut  # model_cut needs the catalogue, which needs this module

        if id(layer) not in self._copies:
            name = prefix + layer.name
            safe = layer.name if not prefix and layer.name in self._taken else \
                names.unique_scope_name(name.replace("/", "."), self._taken)
            try:
                copy = model_cut.rebuild_layer(layer, name=safe)
            except (TypeError, ValueError, NotImplementedError) as error:
                if safe != layer.name:
                    raise ValueError(
                        f"Layer '{name}' ({type(layer).__name__}) cannot be rebuilt from its config "
                        f"({error}), which is needed to rename it '{safe}' for TensorFlow: give it a "
                        "get_config() that from_config() accepts, or a name of letters, digits and _ . -"
                    ) from error
                copy = layer  # a custom layer its config cannot rebuild: shared as it is
            self._copies[id(layer)] = copy
            if copy is not layer and isinstance(layer, keras.layers.Layer):  # an op (ConvNeXt's `x + y`) has no weights
                self._pairs.append((layer, copy))
            self.layer_names[name] = safe
            self.by_id[id(layer)] = name
        return self._copies[id(layer)]
