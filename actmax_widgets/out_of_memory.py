"""Out of device memory, whatever the backend: recognise it and run on in smaller chunks.

No backend library is imported here: TensorFlow's ``ResourceExhaustedError``, PyTorch's
``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``) and JAX's ``XlaRuntimeError`` /
``JaxRuntimeError`` (``RESOURCE_EXHAUSTED: Out of memory while trying to allocate ...``) are
recognised by their type's name and their message, so a JAX or PyTorch run never loads TensorFlow.
"""
from __future__ import annotations

import gc
import sys
import warnings

# TensorFlow's and PyTorch's exception types for an allocation that failed.
_TYPE_NAMES = frozenset({"ResourceExhaustedError", "OutOfMemoryError"})
# What the message says where the type is generic (JAX/XLA runtime errors, CUDA runtime errors
# surfaced as RuntimeError, TensorFlow's 'OOM when allocating tensor' wrapped by Keras).
_MESSAGES = ("resource_exhausted", "out of memory", "oom when allocating")


class OutOfMemoryWarning(RuntimeWarning):
    """The run went on in smaller chunks after the device ran out of memory (shown by default:
    ``ResourceWarning`` is hidden unless Python runs in development mode)."""


class DeviceOutOfMemoryError(MemoryError):
    """Out of memory even with one image per chunk: nothing smaller to try."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is an out-of-memory of any backend."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, MemoryError) or _TYPE_NAMES & {cls.__name__ for cls in type(error).__mro__}:
            return True
        if any(marker in str(error).lower() for marker in _MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def release_memory():
    """Give memory of the failed attempt back before the retry: Python references first, then
    PyTorch's cached CUDA blocks (JAX and TensorFlow free theirs when the buffers die)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class Shrinker:
    """The chunk size of one run: halved (rounded up) on each out-of-memory, warned about once at the end."""

    def __init__(self, size: int):
        self.first = self.size = int(size)

    def halve(self, error: BaseException) -> int:
        """The next, halved chunk size; ``DeviceOutOfMemoryError`` when one image did not fit."""
        if self.size <= 1:
            raise DeviceOutOfMemoryError(
                "Out of memory with one image per chunk: this model, layer and image size do not fit on "
                "this device. Use a smaller image_size, precision='bfloat16', a layer nearer the input, or "
                f"a device with more memory. ({type(error).__name__}: {_first_line(error)})") from error
        self.size = (self.size + 1) // 2  # 3 -> 2 -> 1: the largest that may fit
        release_memory()
        return self.size

    def warn(self):
        """One warning for the whole run, naming the batch size asked for and the one that ran."""
        if self.size == self.first:
            return
        warnings.warn(
            f"Out of memory with {self.first} images per chunk: the run went on in chunks of {self.size} "
            f"(finished images were kept; each new chunk size compiles a new step). To avoid this, pass "
            f"batch_size={self.size} or less, a smaller image_size, or precision='bfloat16'.",
            OutOfMemoryWarning, stacklevel=6)  # the line that called visualize_filters


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else ""
