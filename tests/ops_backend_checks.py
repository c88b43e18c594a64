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
import subprocess
import sys
import tempfile

import numpy as np

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


def outputs():
    """Every check's result on the active backend, numpy arrays by name."""
    out = _draws()
    out["imported tensorflow"] = np.array("tensorflow" in sys.modules)
    return out


@functools.lru_cache(maxsize=None)
def under(backend):
    """``outputs()`` computed in a fresh process with ``KERAS_BACKEND=backend``."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out.npz")
        done = subprocess.run([sys.executable, __file__, path], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"the {backend} checks failed:\n{done.stderr[-4000:]}")
        with np.load(path) as saved:
            return {name: saved[name] for name in saved.files}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    np.savez(sys.argv[1], **outputs())
