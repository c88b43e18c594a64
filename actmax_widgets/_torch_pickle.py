"""Read a PyTorch ``state_dict`` checkpoint into numpy arrays, without torch.

A ``.pth`` file is a Python pickle, and unpickling runs whatever callables the
file names. ``torch.load`` once did exactly that, so a checkpoint from the web
could execute arbitrary code. This module reads checkpoints with a *restricted*
unpickler: it resolves only the handful of globals that a plain state dict
needs (an ``OrderedDict``, the tensor-rebuild function and the typed storage
classes) and refuses everything else with :class:`pickle.UnpicklingError`.
Tensors come back as :class:`numpy.ndarray`; torch is never imported.

Two on-disk layouts exist and both are handled:

* the *legacy* format (``torch.save(..., _use_new_zipfile_serialization=False)``,
  the default before torch 1.6): four pickles back to back (magic number,
  protocol version, system info, the object itself), a pickled list of storage
  keys, then each storage as an int64 element count followed by its raw bytes;
* the *zip* format (torch >= 1.6): ``<archive>/data.pkl`` holds the object and
  ``<archive>/data/<key>`` the raw bytes of each storage.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

__all__ = ["load_torch_state_dict"]

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
_ZIP_MAGIC = b"PK\x03\x04"

# torch's typed storage classes, by the name the pickle refers to them with
# (``torch.FloatStorage`` ...), and the numpy dtype of their elements. Files are
# little-endian unless they say otherwise.
_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a class such as ``torch.FloatStorage``: only its dtype matters."""

    name: str
    dtype: np.dtype


_FIX = "the file is corrupt or not a plain state dict; re-save it with torch.save(model.state_dict(), path)"


@dataclass
class _Storage:
    """A flat buffer named by the pickle; its bytes are read after the pickle, and only once the
    file is known to hold as many as the tensors on it need (``needed``)."""

    key: str
    dtype: np.dtype
    numel: int
    needed: int = 0
    data: np.ndarray | None = field(default=None, repr=False)

    def check_available(self, available: int) -> None:
        """Refuse, before reading a byte, a storage the file holds fewer elements of than its
        tensors or its own record claim (a truncated or hostile file)."""
        if available < max(self.numel, self.needed):
            raise pickle.UnpicklingError(
                f"storage {self.key!r} claims {self.numel} elements and its tensors need {self.needed}, but "
                f"the file holds {available}: {_FIX}")


@dataclass(frozen=True)
class _TensorRef:
    """A strided view of a :class:`_Storage`, turned into an array once bytes are in."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    def span(self) -> int:
        """How many elements of the storage this view reaches (0 for an empty tensor)."""
        if any(n == 0 for n in self.shape):
            return 0
        return self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.strides)) + 1

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.data
        if any(n == 0 for n in self.shape):
            return np.zeros(self.shape, dtype=self.storage.dtype)
        # Bounds check before as_strided (again: the buffer read may be shorter than claimed):
        # a corrupt or hostile file must not make us read memory outside the storage buffer.
        if self.span() > flat.size:
            raise pickle.UnpicklingError(
                f"tensor of shape {self.shape} reaches past its storage "
                f"{self.storage.key!r} of {flat.size} elements: {_FIX}"
            )
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.shape,
            strides=tuple(s * itemsize for s in self.strides),
            writeable=False,
        )
        # Checkpoints may store tensors channels-last (non-contiguous strides);
        # callers expect ordinary C-ordered arrays they own.
        return np.array(view, order="C", dtype=flat.dtype.newbyteorder("="))


def _is_int_tuple(value) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) for v in value)


def _make_rebuild_tensor_v2():
    """Return a fresh stand-in for ``torch._utils._rebuild_tensor_v2``.

    A fresh function per lookup, because a pickle's BUILD opcode can set
    attributes on any object it holds: whatever it does to this one dies with
    the load instead of altering the module for later loads.
    """

    def rebuild_tensor_v2(
        storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
    ):
        if not (
            isinstance(storage, _Storage)
            and isinstance(storage_offset, int)
            and _is_int_tuple(size)
            and _is_int_tuple(stride)
            and len(size) == len(stride)
        ):
            raise pickle.UnpicklingError(f"malformed tensor record in checkpoint: {_FIX}")
        return _checked_tensor(_TensorRef(storage, storage_offset, size, stride))

    return rebuild_tensor_v2


def _checked_tensor(tensor: _TensorRef) -> _TensorRef:
    """``tensor`` if its view fits the elements its storage claims; refused while unpickling,
    before any storage is read or any array allocated (a hostile shape such as
    ``(10**6, 10**6)`` with zero strides would otherwise allocate terabytes in ``to_numpy``)."""
    shape, strides, storage = tensor.shape, tensor.strides, tensor.storage
    if tensor.offset < 0 or min(shape, default=0) < 0 or min(strides, default=0) < 0:
        raise pickle.UnpicklingError(
            f"tensor record with offset {tensor.offset}, shape {shape} and strides {strides} has negative "
            f"values: {_FIX}")
    elements = 1
    for n in shape:
        elements *= n
    if tensor.span() > storage.numel or elements > storage.numel:
        raise pickle.UnpicklingError(
            f"tensor of shape {shape} with strides {strides} at offset {tensor.offset} reaches past its storage "
            f"{storage.key!r} of {storage.numel} elements (it needs {max(tensor.span(), elements)}): {_FIX}")
    storage.needed = max(storage.needed, tensor.span())
    return tensor


class _RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 - see below
    """Unpickler that resolves only the globals a tensor state dict needs.

    Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...)
    raises :class:`pickle.UnpicklingError` naming the refused global, before
    it could be called.

    It is the pure-Python unpickler: the C one allocates the size a BINBYTES8
    or BINUNICODE8 opcode claims (up to 2**64 bytes) before reading a byte,
    while this one asks the file for it, and the file only has what it has.
    The pickle of a state dict is small (the tensor bytes are outside it).
    """

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    # BYTEARRAY8 is the one opcode the pure-Python unpickler allocates for (a zero-filled
    # bytearray of the claimed size) before reading; a state dict never holds a bytearray.
    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001
    del dispatch[pickle.BYTEARRAY8[0]]

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _make_rebuild_tensor_v2()
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: this reader accepts only "
            "plain tensor state dicts (collections.OrderedDict, "
            "torch._utils._rebuild_tensor_v2, torch.*Storage)"
        )

    def persistent_load(self, pid):
        # Both formats name a storage as ('storage', type, key, location, numel[, view]).
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id in checkpoint: {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (torch < 0.4 checkpoints) are not supported")
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str) and isinstance(numel, int)
                and numel >= 0):
            raise pickle.UnpicklingError(f"malformed storage record in checkpoint: {pid!r}: {_FIX}")
        # Several tensors may share one storage; they must share the buffer too.
        if key not in self._storages:
            self._storages[key] = _Storage(key, storage_type.dtype, numel)
        return self._storages[key]


def _to_state_dict(obj) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    state = {}
    for name, value in obj.items():
        if not (isinstance(name, str) and isinstance(value, _TensorRef)):
            raise pickle.UnpicklingError(f"checkpoint entry {name!r} is not a tensor")
        state[name] = value.to_numpy()
    return state


class _BoundedReader:
    """A file whose ``read(n)`` never asks for more than is left: a pickle opcode claiming a
    2**40-byte string must fail as truncated, not allocate its claimed size first."""

    def __init__(self, file):
        self._file = file
        self._size = os.fstat(file.fileno()).st_size
        self.tell, self.seek, self.readline = file.tell, file.seek, file.readline

    def read(self, size=-1):
        left = self._size - self._file.tell()
        return self._file.read(left if size is None or size < 0 else min(size, left))


def _bytes_left(file) -> int:
    here = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(here)
    return end - here


def _load_legacy(file) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}

    def load():
        return _RestrictedUnpickler(file, storages).load()

    if load() != _LEGACY_MAGIC_NUMBER:
        raise pickle.UnpicklingError("not a PyTorch checkpoint (bad magic number)")
    if load() != _LEGACY_PROTOCOL_VERSION:
        raise pickle.UnpicklingError("unsupported PyTorch legacy protocol version")
    sys_info = load()
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", True)):
        raise pickle.UnpicklingError("big-endian PyTorch checkpoints are not supported")
    obj = load()
    keys = load()
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise pickle.UnpicklingError("malformed storage key list in checkpoint")
    for key in keys:
        storage = storages.get(key)
        if storage is None:
            raise pickle.UnpicklingError(f"checkpoint lists storage {key!r} that no tensor uses: {_FIX}")
        header = file.read(8)
        (numel,) = struct.unpack("<q", header) if len(header) == 8 else (-1,)
        if numel != storage.numel:
            raise pickle.UnpicklingError(f"storage {key!r} is truncated or inconsistent (its header says {numel} "
                                         f"elements, its record {storage.numel}): {_FIX}")
        storage.check_available(_bytes_left(file) // storage.dtype.itemsize)
        storage.data = np.frombuffer(file.read(numel * storage.dtype.itemsize), dtype=storage.dtype)
    return _to_state_dict(obj)


def _load_zip(path) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise pickle.UnpicklingError("zip checkpoint without exactly one data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise pickle.UnpicklingError("big-endian PyTorch checkpoints are not supported")
        if archive.getinfo(pickles[0]).file_size > os.path.getsize(path):
            raise pickle.UnpicklingError(f"data.pkl inflates past the size of the whole file: {_FIX}")
        obj = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for key, storage in storages.items():
            try:
                entry = archive.getinfo(f"{prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"storage {key!r} is missing from the archive: {_FIX}") from None
            # torch stores storages uncompressed: an entry that inflates past the file's own size
            # is a zip bomb, refused before it is read.
            if entry.file_size > os.path.getsize(path):
                raise pickle.UnpicklingError(
                    f"storage {key!r} claims {entry.file_size} bytes, more than the whole file: {_FIX}")
            # The zip format's numel is in elements for typed storages.
            storage.check_available(entry.file_size // storage.dtype.itemsize)
            raw = archive.read(entry)
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=len(raw) // storage.dtype.itemsize)
    return _to_state_dict(obj)


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a PyTorch ``state_dict`` checkpoint as numpy arrays, safely and without torch.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``torch.save(model.state_dict(), path)``, in either
        the legacy or the zip format (detected from the first bytes).

    Returns
    -------
    dict of str to numpy.ndarray
        Parameter and buffer names (``"_conv_stem.weight"``, ...) in file order,
        each mapped to a C-contiguous array in torch's layout (conv weights are
        ``(out, in, kh, kw)``).

    Raises
    ------
    pickle.UnpicklingError
        If the file names any global outside the short allow-list (for example
        a hostile pickle reaching for ``os.system``), is not a flat state dict
        of tensors, or is truncated. Nothing the file names is ever called
        unless it is on the allow-list.

    Examples
    --------
    >>> state = load_torch_state_dict("efficientnet-lite0.pth")  # doctest: +SKIP
    >>> state["_fc.weight"].shape  # doctest: +SKIP
    (1000, 1280)
    """
    with open(path, "rb") as file:
        if file.read(4) != _ZIP_MAGIC:
            file.seek(0)
            return _with_path(path, _load_legacy, _BoundedReader(file))
    return _with_path(path, _load_zip, path)


def _with_path(path, load, source):
    """``load(source)``, its errors (and a broken zip's or pickle's own) as UnpicklingError
    naming the file."""
    try:
        return load(source)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, struct.error, ValueError, TypeError, IndexError,
            KeyError, OverflowError) as error:  # what a garbled pickle or zip raises
        reason = str(error) or ("the file is truncated" if isinstance(error, EOFError) else type(error).__name__)
        fix = "" if _FIX in reason else f" ({_FIX})"
        raise pickle.UnpicklingError(f"cannot read checkpoint {os.fspath(path)!r}: {reason}{fix}") from error
