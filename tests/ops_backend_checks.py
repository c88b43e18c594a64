"""The ops modules' outputs on the active Keras backend, for the cross-backend tests.

``python tests/ops_backend_checks.py OUT.npz`` with ``KERAS_BACKEND`` set computes every check
below once and saves the numpy results; ``under(backend)`` runs that in a fresh process (the
backend is fixed when Keras is imported) and the tests compare with TensorFlow's, computed in
the test process by ``outputs()``. One process per backend runs all checks, so the cost is one
Keras + backend import each.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np

import backend_processes

KEYS = np.array([2968811710, 3964924996, 3141116543, 0, 2**31 - 1, 2**31, 2**32 - 1], np.int64)
STEPS = (0, 7, 123456, 2**31 - 1)


def _compiled(fn):
    """``fn`` as the engine runs it: under ``jax.jit`` on JAX (traced keys and step catch any
    host-side use of them), as is elsewhere."""
    from actmax_widgets import backend
    if backend.name() == "jax":
        import jax
        return jax.jit(fn)
    return fn


def _draws():
    from keras import ops
    from actmax_widgets.sample_random import SampleRandom, key_words

    def draw(keys, step):
        random = SampleRandom(keys, step)
        return random.uniform(salt=3, n=5), random.integers(salt=1201, low=-4, high=4, n=3)

    run, out = _compiled(draw), {}
    for step in STEPS:
        uniform, integers = run(ops.convert_to_tensor(key_words(KEYS)), ops.convert_to_tensor(np.int32(step)))
        out[f"draws uniform step {step}"] = ops.convert_to_numpy(uniform).view(np.uint32)
        out[f"draws integers step {step}"] = ops.convert_to_numpy(integers)
        out["draws tensor type"] = np.array(type(uniform).__module__.split(".")[0])
    return out


def _transforms():
    from actmax_widgets import input_modifiers, transforms as t
    return {  # name: (transform, method): the canvas-growing ones by ``apply``, the others as used
        "pad mean": (t.pad(3), "apply"), "pad reflect": (t.pad((2, 3), "reflect"), "apply"),
        "pad constant": (t.pad(2, 7.0), "apply"), "jitter crop": (t.jitter(3), "transform"),
        "jitter wrap": (t.jitter(3, mode="wrap"), "transform"),
        "keras-vis Jitter": (input_modifiers.Jitter(0.2), "transform"),
        "scale choices": (t.random_scale([0.8, 1.25]), "transform"),
        "scale log-uniform": (t.random_scale(low=0.8, high=1.2), "transform"),
        "rotate": (t.random_rotate(15), "transform"), "rotate choices": (t.random_rotate([-10, 90]), "transform"),
        "lucid": (t.LUCID, "transform"), "light": (t.LIGHT, "transform"),
        "compose resize": (t.compose(t.pad(4), t.jitter(3), fit="resize"), "transform"),
    }


def _transformed():
    """Every transform of one batch of 3 images at step 5, and a gradient through Lucid's chain."""
    from keras import ops
    from actmax_widgets import transforms
    from actmax_widgets.backend import autodiff
    from actmax_widgets.sample_random import SampleRandom, key_words
    rng = np.random.default_rng(0)
    images = ops.convert_to_tensor(rng.uniform(0, 255, (3, 12, 10, 3)).astype("float32"))
    keys, step = ops.convert_to_tensor(key_words(KEYS[:3])), ops.convert_to_tensor(np.int32(5))
    out = {}
    for name, (transform, method) in _transforms().items():
        run = _compiled(lambda x, k, s, f=getattr(transform, method): f(x, SampleRandom(k, s)))
        out[f"transform {name}"] = ops.convert_to_numpy(run(images, keys, step))
    for size, mode in [((15, 13), "crop"), ((7, 9), "resize"), ((20, 16), "resize")]:
        out[f"transform fit {mode} {size}"] = ops.convert_to_numpy(transforms.fit(images, size, mode))
    weights = ops.convert_to_tensor(rng.normal(size=(3, 12, 10, 3)).astype("float32"))

    def objective(x):
        return ops.sum(transforms.LUCID.transform(x, SampleRandom(keys, step)) * weights), None
    out["transform lucid gradient"] = ops.convert_to_numpy(autodiff.value_and_gradients(objective, images)[2][0])
    return out


def _parameterized():
    """Fourier images (colour and grey, odd width, two ranges) and a gradient through one."""
    from keras import ops
    from actmax_widgets.backend import autodiff
    from actmax_widgets.parameterizations import FourierImage
    out = {}
    for name, shape, input_range, decorrelate in [("colour", (8, 10, 3), (0, 255), True),
                                                  ("grey odd", (7, 9, 1), (-1, 1), False)]:
        fourier = FourierImage(decay=1.5, decorrelate=decorrelate)
        params = ops.convert_to_tensor(fourier.init_params(KEYS[:2], shape, input_range) * 50.0)
        out[f"fourier {name}"] = ops.convert_to_numpy(_compiled(fourier.to_image)(params))
        weights = ops.convert_to_tensor(np.random.default_rng(1).normal(size=(2,) + shape).astype("float32"))
        grads = autodiff.value_and_gradients(lambda p: (ops.sum(fourier.to_image(p) * weights), None), params)[2]
        out[f"fourier {name} gradient"] = ops.convert_to_numpy(grads[0])
    return out


@functools.lru_cache(maxsize=None)
def outputs():
    """Every check's result on the active backend, numpy arrays by name (cached: do not change them)."""
    out = {**_draws(), **_transformed(), **_parameterized()}
    out["imported tensorflow"] = np.array("tensorflow" in sys.modules)
    return out


def assert_same(theirs, ours, prefix):
    """Every result named ``prefix ...`` equal within float noise: 1e-5 of the largest value (the
    backends sum and fuse in their own orders; a wrong pixel or sample would be far off)."""
    names = [name for name in ours if name.startswith(prefix)]
    assert names, prefix
    for name in names:
        assert theirs[name].shape == ours[name].shape, name
        np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-5, atol=1e-5 * np.abs(ours[name]).max(),
                                   err_msg=name)


def under(backend):
    """``outputs()`` computed in a fresh process with ``KERAS_BACKEND=backend``."""
    return backend_processes.outputs(os.path.abspath(__file__), backend)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    np.savez(sys.argv[1], **outputs())
