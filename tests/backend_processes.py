"""A check script run in a fresh process per Keras backend (``KERAS_BACKEND`` is read once, when
Keras is imported, so one process cannot hold two). The script is called as
``python SCRIPT OUT.npz`` and saves its arrays there; ``start`` several, then ``collect`` each, so
the backends' processes run side by side."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile

import numpy as np


def start(script, backend):
    """``python script OUT.npz`` running under ``backend``; hand the result to ``collect``."""
    out = tempfile.NamedTemporaryFile(suffix=".npz", delete=False).name
    process = subprocess.Popen([sys.executable, script, out], env={**os.environ, "KERAS_BACKEND": backend},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, out, backend


def collect(started):
    """The arrays the started script saved, by name; its output in the error if it failed."""
    process, out, backend = started
    log, _ = process.communicate(timeout=600)
    try:
        assert process.returncode == 0, f"KERAS_BACKEND={backend} ({os.path.basename(process.args[1])}):\n{log[-4000:]}"
        with np.load(out) as data:
            return {key: data[key] for key in data.files}
    finally:
        os.unlink(out)


@functools.lru_cache(maxsize=None)
def outputs(script, backend):
    """``collect(start(script, backend))``, once per script and backend in a test session."""
    return collect(start(script, backend))
