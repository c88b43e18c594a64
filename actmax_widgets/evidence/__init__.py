"""Evidence beside a synthetic image: the natural images that excite each filter most.

``dataset_examples(model, layer, ...)`` scans a set of images (a folder, arrays, a tf.data
pipeline, or ``default_images()``, photos that ship offline with scikit-image and scikit-learn)
and returns ``Examples``: per filter the patches its strongest position sees, best first.
``sanity_signals(model, result, examples)`` says how far to trust each synthetic image
(superstimulus, specificity, noise; ``SanitySignals.badges``), and ``accentuate(model, layer,
filters, photo)`` changes a photo just enough to raise each filter (``Accentuation``).
"""
from .accentuation import Accentuation, accentuate
from .examples import Examples
from .image_sources import default_images
from .sanity import SanitySignals, sanity_signals
from .scan import dataset_examples

__all__ = ["Accentuation", "Examples", "SanitySignals", "accentuate", "dataset_examples", "default_images",
           "sanity_signals"]
