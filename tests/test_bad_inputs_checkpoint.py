"""Malformed and hostile ``.pth`` files are refused by ``_torch_pickle`` with an UnpicklingError
that names the file and the fix, before any storage is read or any array allocated (issue #12).

The files are crafted here, small, with the torch-free writer of ``test_models``. "Before any
allocation" is checked with ``tracemalloc``: refusing a file must not allocate what it claims.
"""
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from actmax_widgets._torch_pickle import load_torch_state_dict
from test_models import _LEGACY_HEADER, _FakeStorage, _FakeTensor, _pickled, _save_zip, fake_torch  # noqa: F401

FIX = "torch.save(model.state_dict(), path)"


def four():
    return _FakeStorage("0", np.arange(4, dtype=np.float32))


def _save_legacy(state, path, torch, numel_header=None, claimed=None):
    """The legacy format: header pickles, the state, the storage keys, then per storage an int64
    element count (``numel_header`` to lie about it) and its bytes."""
    data, storages = _pickled(state, torch, claimed)
    parts = [pickle.dumps(obj, protocol=2) for obj in _LEGACY_HEADER] + [data, pickle.dumps(list(storages))]
    for array in storages.values():
        parts.append(struct.pack("<q", array.size if numel_header is None else numel_header))
        parts.append(array.astype("<f4").tobytes())
    path.write_bytes(b"".join(parts))


def refused(path, *words, limit=4 << 20):
    """Loading ``path`` raises an UnpicklingError naming the file and ``words``, allocating at
    most ``limit`` bytes while it does."""
    tracemalloc.start()
    try:
        with pytest.raises(pickle.UnpicklingError) as raised:
            load_torch_state_dict(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(raised.value)
    for word in (str(path), *words):
        assert word in message, f"{word!r} not in {message!r}"
    assert peak < limit, f"allocated {peak} bytes before refusing"


HOSTILE_ZIP = {
    # name: (state, _save_zip options, words in the message)
    "zero strides over a huge shape": (lambda: {"w": _FakeTensor(four(), 0, (10**6, 10**6), (0, 0))}, {},
                                       ["(1000000, 1000000)", "reaches past its storage", FIX]),
    "overlapping strides need more elements": (lambda: {"w": _FakeTensor(four(), 0, (3, 3), (1, 1))}, {},
                                               ["(3, 3)", "of 4 elements", "needs 9"]),
    "view past the end": (lambda: {"w": _FakeTensor(four(), 2, (4,), (1,))}, {}, ["reaches past its storage"]),
    "negative offset": (lambda: {"w": _FakeTensor(four(), -2, (2,), (1,))}, {}, ["offset -2", "negative"]),
    "negative stride": (lambda: {"w": _FakeTensor(four(), 3, (2,), (-1,))}, {}, ["strides (-1,)", "negative"]),
    "negative size": (lambda: {"w": _FakeTensor(four(), 0, (-1, 4), (4, 1))}, {}, ["shape (-1, 4)", "negative"]),
    "storage claims an absurd size": (lambda: {"w": _FakeTensor(four(), 0, (2**40,), (1,))},
                                      {"claimed": {"0": 2**40}}, ["claims 1099511627776 elements", "holds 4", FIX]),
    "storage claims a negative size": (lambda: {"w": _FakeTensor(four(), 0, (4,), (1,))}, {"claimed": {"0": -4}},
                                       ["malformed storage record", FIX]),
    "storage missing from the archive": (lambda: {"w": _FakeTensor(four(), 0, (4,), (1,))}, {"omit": ("0",)},
                                         ["storage '0' is missing", FIX]),
}


@pytest.mark.parametrize("case", list(HOSTILE_ZIP))
def test_hostile_zip_checkpoint_is_refused_before_allocating(tmp_path, fake_torch, case):
    state, options, words = HOSTILE_ZIP[case]
    path = tmp_path / "hostile.pth"
    _save_zip(state(), path, fake_torch, **options)
    refused(path, *words)


def test_compressed_storage_inflating_past_the_file_is_refused_unread(tmp_path, fake_torch):
    # 64 MiB of zeros deflate to ~64 KiB: a zip bomb; torch never compresses storages.
    big = _FakeStorage("0", np.zeros(16 << 20, np.float32))
    path = tmp_path / "bomb.pth"
    _save_zip({"w": _FakeTensor(big, 0, (16 << 20,), (1,))}, path, fake_torch, compression=zipfile.ZIP_DEFLATED)
    refused(path, "claims 67108864 bytes, more than the whole file", FIX)


@pytest.mark.parametrize("numel_header", [2**60, -1, 3])
def test_legacy_storage_header_that_lies_is_refused_unread(tmp_path, fake_torch, numel_header):
    path = tmp_path / "legacy.pth"
    _save_legacy({"w": _FakeTensor(four(), 0, (4,), (1,))}, path, fake_torch, numel_header=numel_header)
    refused(path, "storage '0' is truncated or inconsistent", f"header says {numel_header}", FIX)


def test_legacy_storage_longer_than_the_file_is_refused_unread(tmp_path, fake_torch):
    path = tmp_path / "legacy.pth"
    _save_legacy({"w": _FakeTensor(four(), 0, (4,), (1,))}, path, fake_torch, numel_header=2**40,
                 claimed={"0": 2**40})
    refused(path, "claims 1099511627776 elements", "the file holds 4")


def test_legacy_pickle_claiming_a_huge_bytes_object_is_refused_unread(tmp_path):
    # BINBYTES8 (protocol 4) with a length of 2**40: the reader must not ask the file for it.
    path = tmp_path / "huge_bytes.pth"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"tiny")
    refused(path, "truncated")


@pytest.mark.parametrize("content, words", [
    (b"", ["truncated"]),
    (b"this is a text file, not a checkpoint\n", []),
    (b"PK\x03\x04 then not a zip at all", ["not a zip file"]),
])
def test_garbage_is_refused_naming_the_file(tmp_path, content, words):
    path = tmp_path / "garbage.pth"
    path.write_bytes(content)
    refused(path, "cannot read checkpoint", FIX, *words)


def test_a_state_dict_at_its_exact_size_still_loads(tmp_path, fake_torch):
    path = tmp_path / "ok.pth"
    _save_zip({"w": _FakeTensor(four(), 0, (2, 2), (2, 1)), "empty": _FakeTensor(four(), 0, (0, 5), (5, 1))},
              path, fake_torch)
    loaded = load_torch_state_dict(path)
    np.testing.assert_array_equal(loaded["w"], [[0, 1], [2, 3]])
    assert loaded["empty"].shape == (0, 5)


def test_legacy_pickle_claiming_a_huge_bytearray_is_refused_unallocated(tmp_path):
    # BYTEARRAY8 (protocol 5) with a length of 2**33: Python's own unpickler makes a zero-filled
    # bytearray of that size before reading; a state dict never holds one, so the opcode is refused.
    path = tmp_path / "huge_bytearray.pth"
    path.write_bytes(b"\x80\x05\x96" + struct.pack("<Q", 2**33) + b"tiny")
    refused(path)
