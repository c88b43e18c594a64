"""Evidence beside a synthetic image: the natural images that excite each filter most.

``dataset_examples(model, layer, ...)`` scans a set of images (a folder, arrays, a tf.data
pipeline, or ``default_images()``, photos that ship offline with scikit-image and scikit-learn)
and returns ``Examples``: per filter the patches its strongest position sees, best first.
"""
from .examples import Examples
from .image_sources import default_images
from .scan import dataset_examples

__all__ = ["Examples", "dataset_examples", "default_images"]
