"""The attribution maps ``test_attribution_backends`` compares across Keras backends, computed on the
nets of ``attribution_nets`` (NumPy weights: the same nets on every backend).

``maps()`` computes them in this process; ``start(backend)`` runs this file as a script in a fresh
process with ``KERAS_BACKEND=backend`` (Keras reads it once, at import), which writes them to an
.npz, with whether importing the widget imported TensorFlow. Under another backend TensorFlow
then cannot be imported, as on a machine with only JAX or PyTorch (Keras itself would load it
when it serializes a layer, which copying a model does).
"""
import os
import sys

import numpy as np

import backend_processes

HERE = os.path.dirname(os.path.abspath(__file__))


def maps():
    from actmax_widgets import grad_cam, saliency_maps, visualize_cam, visualize_saliency
    from attribution_nets import detector_net, planted, residual_net

    detector = detector_net()
    found = np.stack([planted((8, 24), (24, 8)), planted((22, 10), (6, 6))])
    residual = residual_net()
    photos = np.random.default_rng(1).uniform(0, 255, (3, 24, 24, 3)).astype("uint8")
    return {
        "detector grad_cam": grad_cam(detector, "score", 0, found),
        "detector saliency": saliency_maps(detector, "score", 0, found),
        "saliency": saliency_maps(residual, "predictions", [0, 2, 4], photos),
        "saliency signed": saliency_maps(residual, "predictions", 1, photos, grad_modifier=None, keepdims=True),
        "saliency guided": saliency_maps(residual, "predictions", 1, photos, backprop_modifier="guided"),
        "saliency wrt c2": saliency_maps(residual, "predictions", 1, photos, wrt_layer="c2"),
        "grad_cam": grad_cam(residual, "predictions", [0, 2, 4], photos),
        # c1's maps feed the skip connection past c2: the layers after it take both.
        "grad_cam c1": grad_cam(residual, "predictions", 0, photos, penultimate_layer="c1"),
        "grad_cam++": grad_cam(residual, "predictions", 3, photos, plus_plus=True),
        "visualize_saliency": visualize_saliency(residual, -1, [1, 2], photos[0].astype("float32")),
        "visualize_cam": visualize_cam(residual, -1, 2, photos[0].astype("float32")),
    }


def start(backend):
    """A running ``python attribution_backend_maps.py`` under ``backend``; ``collect`` it."""
    return backend_processes.start(os.path.join(HERE, "attribution_backend_maps.py"), backend)


class _NoTensorflow:
    """An import finder that hides TensorFlow."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden: KERAS_BACKEND is not tensorflow)", name=name)
        return None


def main(out):
    sys.path.insert(0, HERE)
    import actmax_widgets.evidence.scan  # noqa: F401 - importing these must not import TensorFlow
    import actmax_widgets.widget  # noqa: F401

    imported = "tensorflow" in sys.modules
    if os.environ.get("KERAS_BACKEND") != "tensorflow":
        sys.meta_path.insert(0, _NoTensorflow())
    np.savez(out, **maps(), tensorflow_imported_with_the_widget=imported)


if __name__ == "__main__":
    main(sys.argv[1])
