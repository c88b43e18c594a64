"""Saliency and Grad-CAM on JAX and PyTorch give TensorFlow's maps for the same weights and photos
(issue #17), Grad-CAM points at what drives the class on every backend, and the widget and the
maps need no TensorFlow there. One fresh process per backend (``attribution_backend_maps.py``),
both started at once; there TensorFlow cannot be imported, as on a machine without it."""
import keras
import numpy as np
import pytest

import attribution_backend_maps as backend_maps
import backend_processes
from attribution_nets import peak

BACKENDS = ("jax", "torch")


@pytest.fixture(scope="module")
def results():
    here = keras.backend.backend() == "tensorflow"  # then the reference is computed while the others run
    started = {backend: backend_maps.start(backend) for backend in BACKENDS + (() if here else ("tensorflow",))}
    by_backend = {"tensorflow": backend_maps.maps()} if here else {}
    by_backend.update({backend: backend_processes.collect(process) for backend, process in started.items()})
    return by_backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_maps_equal_tensorflow_s(backend, results):
    reference, theirs = results["tensorflow"], results[backend]
    for name, expected in reference.items():
        if name.startswith("tensorflow_"):
            continue
        assert expected.max() > 0.9, name  # a map, not all zeros
        np.testing.assert_allclose(theirs[name], expected, rtol=0, atol=2e-4, err_msg=f"{backend}: {name}")


@pytest.mark.parametrize("backend", ("tensorflow",) + BACKENDS)
def test_grad_cam_points_at_the_pattern_that_drives_the_class(backend, results):
    """The detector's score rises with an X planted at (8, 24) and (22, 10), not with the + decoys."""
    for cam, where in zip(results[backend]["detector grad_cam"], [(8, 24), (22, 10)]):
        assert np.abs(np.subtract(peak(cam), where)).max() <= 2, (backend, peak(cam), where)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_widget_imports_no_tensorflow(backend, results):
    assert not results[backend]["tensorflow_imported_with_the_widget"]
