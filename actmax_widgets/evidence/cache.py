"""A disk cache of finished scans, so a notebook, the widget and the CLI scan an image set once.

The key is a digest of everything the result depends on: the model's weights and its layers up to
the scanned one, the layer, the filters, ``top_k``, the image size and input range, and the image
set's fingerprint (file names, sizes and modification times of a folder; the pixels of arrays).
Change any of them and the key changes, so a stale entry is never read. Entries are written
atomically (a temporary file in the same folder, then a rename): a crash mid-write leaves no half
file, and two processes writing the same entry both leave a whole one. The folder is
``$ACTMAX_CACHE_DIR``, else ``~/.cache/actmax_widgets``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import zipfile

import numpy as np

from .examples import Examples

VERSION = 1  # bump when what a scan computes changes: old entries are then never read
_ARRAYS = ("patches", "activations", "where", "image_indices")


def folder() -> pathlib.Path:
    """Where entries live: ``$ACTMAX_CACHE_DIR``, else ``~/.cache/actmax_widgets``."""
    return pathlib.Path(os.environ.get("ACTMAX_CACHE_DIR") or pathlib.Path.home() / ".cache" / "actmax_widgets")


def model_digest(cut_model) -> str:
    """A digest of the layers up to the scanned one: their classes, configs and weights."""
    digest = hashlib.blake2b(digest_size=16)
    for layer in cut_model.layers:
        try:
            config = json.dumps(layer.get_config(), sort_keys=True, default=repr)
        except (NotImplementedError, TypeError, ValueError):
            config = ""
        digest.update(f"{type(layer).__name__}|{layer.name}|{config}".encode())
        for weight in layer.weights:
            digest.update(np.ascontiguousarray(weight.numpy()).data)
    return digest.hexdigest()


def key(**parts) -> str:
    """The entry's name for a scan described by ``parts`` (JSON-able values)."""
    text = json.dumps({"version": VERSION, **parts}, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def load(entry_key):
    """The cached ``Examples`` for ``entry_key``, or None (missing, or unreadable: recomputed)."""
    path = folder() / f"examples-{entry_key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    return Examples(layer=meta["layer"], filters=meta["filters"], image_names=meta["image_names"],
                    images_scanned=meta["images_scanned"], complete=True,
                    receptive_field=tuple(meta["receptive_field"]), image_size=tuple(meta["image_size"]), **arrays)


def store(entry_key, examples):
    """Write ``examples`` under ``entry_key`` atomically; a folder that cannot be written is
    skipped silently (the cache only saves time)."""
    meta = {"layer": examples.layer, "filters": examples.filters, "image_names": examples.image_names,
            "images_scanned": examples.images_scanned, "receptive_field": list(examples.receptive_field),
            "image_size": list(examples.image_size)}
    target = folder()
    try:
        target.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target, prefix=".examples-", suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, meta=np.array(json.dumps(meta)), **{name: getattr(examples, name) for name in _ARRAYS})
        os.replace(temporary, target / f"examples-{entry_key}.npz")
    except OSError:
        try:
            os.unlink(temporary)
        except (OSError, UnboundLocalError):
            pass
