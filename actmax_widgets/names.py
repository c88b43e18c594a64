"""Names of what the library builds from a user's model, kept legal and unique.

A user's model can break two rules of Keras and TensorFlow without its owner knowing:

* every operation in one Keras graph needs its own name. Keras names the operations it makes
  (``keras.ops.add`` inside a loss) ``add``, ``mean``, ... from a per-process counter that a
  model loaded from a file does not advance: that model's layer ``add`` then clashes with a
  loss's ``add`` (``'The name "add" is used 2 times in the model'``);
* TensorFlow traces each layer inside a name scope named after it and refuses names that are
  not scope names (``'my conv'``, ``'conv:1'``, ``'<x>'``).
"""
from __future__ import annotations

import re

import keras

# What TensorFlow accepts in a layer's name scope (inside its model's) and in graph node names;
# Keras forbids "/" in names anyway.
_SCOPE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def is_scope_name(name: str) -> bool:
    """Whether TensorFlow accepts ``name`` as the name scope a layer is traced in."""
    return _SCOPE_NAME.fullmatch(name) is not None


def unique_scope_name(name: str, taken: set) -> str:
    """``name`` with characters TensorFlow refuses replaced by ``_`` and a ``_2``, ``_3``, ...
    suffix where needed to be unique among ``taken``; the result is added to ``taken``.

    On PyTorch ``.`` goes too: a layer's variables are registered with torch under paths that
    start with its name, and torch refuses ``.`` in them (a copy named after a nested
    ``mobilenetv2_1.00_224`` would fail to build)."""
    illegal = r"[^A-Za-z0-9_\-]" if keras.backend.backend() == "torch" else r"[^A-Za-z0-9_.\-]"
    base = re.sub(illegal, "_", name) or "layer"
    candidate, k = base, 1
    while candidate in taken:
        k += 1
        candidate = f"{base}_{k}"
    taken.add(candidate)
    return candidate


def _producers(tensors, stop):
    """Yield the operations behind ``tensors`` (back to the ``stop`` tensor ids), each once."""
    seen, pending = set(), list(tensors)
    while pending:
        tensor = pending.pop()
        history = getattr(tensor, "_keras_history", None)
        if id(tensor) in stop or history is None or id(history.operation) in seen:
            continue
        operation = history.operation
        seen.add(id(operation))
        yield operation
        for node in operation._inbound_nodes:
            pending.extend(node.input_tensors)


def rename_clashing_operations(inputs, outputs) -> None:
    """Give a new name to each operation behind ``outputs`` whose name another one has, so a
    ``keras.Model(inputs, outputs)`` can be built; the model's part keeps its names.

    The model's part is every layer and every operation that feeds a layer; what is left are the
    operations the losses added after it (``keras.ops`` calls), whose names appear nowhere else,
    while a layer's name is how a person finds it. Those are renamed where they clash.
    """
    stop = {id(tensor) for tensor in inputs}
    operations = list(_producers(outputs, stop))
    layer_inputs = [tensor for op in operations if isinstance(op, keras.layers.Layer)
                    for node in op._inbound_nodes for tensor in node.input_tensors]
    model_part = {id(op) for op in operations if isinstance(op, keras.layers.Layer)}
    model_part.update(id(op) for op in _producers(layer_inputs, stop))
    taken = {op.name for op in operations if id(op) in model_part}
    for op in operations:
        if id(op) not in model_part:
            op.name = unique_scope_name(op.name, taken)
