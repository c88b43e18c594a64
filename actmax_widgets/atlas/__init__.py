"""A model atlas: every channel of a model's layers, precomputed into a folder that a browser
opens from disk (issue #15). ``build(model, out)``; CLI ``python -m actmax_widgets atlas``.

Names are imported when first used, so ``import actmax_widgets.atlas`` stays light (the CLI
parses its arguments before TensorFlow loads).
"""
from __future__ import annotations

import importlib

_LAZY = {"build": ".build", "AtlasSummary": ".build"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = sorted(_LAZY)
