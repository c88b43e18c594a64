"""Evidence beside a synthetic image: the natural images that excite each filter most.

``dataset_examples(model, layer, ...)`` scans a set of images (a folder, arrays, a tf.data
pipeline, or ``default_images()``, photos that ship offline with scikit-image and scikit-learn)
and returns ``Examples``: per filter the patches its strongest position sees, best first.
``sanity_signals(model, result, examples)`` says how far to trust each synthetic image
(superstimulus, specificity, noise; ``SanitySignals.badges``), and ``accentuate(model, layer,
filters, photo)`` changes a photo just enough to raise each filter (``Accentuation``).
"""
from __future__ import annotations

import importlib

# Public names, imported when first used: ``image_sources`` stays free of TensorFlow, so the CLI
# checks an ``--images`` folder before TensorFlow loads.
_LAZY = {"Examples": ".examples", "dataset_examples": ".scan", "default_images": ".image_sources",
         "Accentuation": ".accentuation", "accentuate": ".accentuation", "SanitySignals": ".sanity",
         "sanity_signals": ".sanity"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:  # a submodule (evidence.image_sources), as an eager package would have it
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'actmax_widgets.evidence' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Accentuation", "Examples", "SanitySignals", "accentuate", "dataset_examples", "default_images",
           "sanity_signals"]
