"""Keep TensorFlow's C++ start-up lines off a notebook's stderr.

Loading TensorFlow writes lines such as "oneDNN custom operations are on…" and "This TensorFlow
binary is optimized to use available CPU instructions…" straight to file descriptor 2, before
its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not hide them; Jupyter shows them in a
pink error box that workshop participants take for a failure. After ``install()``, the first
import of ``tensorflow`` — by this package, by Keras or by the user's own code — runs with
descriptor 2 captured; the known start-up lines are dropped and anything else is written back
once the import returns or raises, so its warnings and errors still show. One case loses them: a
TensorFlow that aborts the process while it loads (a binary built for CPU instructions this
machine lacks); run ``python -c "import tensorflow"`` to see why. Nothing TensorFlow computes
changes.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# The lines TensorFlow writes while loading on a machine where everything is fine.
START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called|oneDNN custom operations are on"
    r"|cpu_feature_guard|This TensorFlow binary is optimized|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered|TF-TRT Warning|Could not find cuda drivers")


@contextlib.contextmanager
def _stderr_filtered():
    """Capture descriptor 2; afterwards write back every line that is not start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode(errors="replace").splitlines(keepends=True)
                    if not START_UP_NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, its module executed with stderr filtered."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader  # tools that inspect it see TF's own
        with _stderr_filtered():
            self._loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()  # once: the other finders locate the real package
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _QuietFinder()


def install():
    """Filter the first ``import tensorflow`` from now on (nothing to do once it is loaded)."""
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall():
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
