"""The atlas's out folder: ``manifest.json`` and the files it names, written so a crash loses
at most the chunks in flight.

Layout (what ``atlas/site.py``, ``atlas/site_data.py`` and ``atlas/reader.py`` read)::

    out/manifest.json                       {"format", "model", "settings", "versions", "layers", "chunks"}
    out/images/<layer_safe>/<filter>.png    one image per channel
    out/histories/<layer_safe>/<s>-<e>.json {"filters": [...], "activation_history": [[per step] per filter]}
    out/examples/<layer_safe>/<filter>_<k>.png   natural examples (when images= was given)
    out/variants/<layer_safe>/<filter>_<j>.png   diverse variants (when variants= > 0)

Every file is written to a temporary name and renamed (atomic on one file system); a chunk's
manifest entry is written only after all its files, so an entry always names files that exist.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from .. import render

FORMAT = 1
MANIFEST = "manifest.json"
# Everything an atlas writes: what overwrite=True may delete (never anything else in the folder).
_OWN = (MANIFEST, "images", "histories", "examples", "variants", "chunks")


class AtlasExists(ValueError):
    """``out`` holds an atlas of another model or other settings (or something that is no atlas)."""


def write_atomic(path: pathlib.Path, data: bytes):
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _png_bytes(image) -> bytes:
    import io

    buffer = io.BytesIO()
    render.save_png(image, buffer)
    return buffer.getvalue()


class AtlasStore:
    """One out folder. ``open`` checks it may be written; ``has``/``write_chunk`` per chunk."""

    def __init__(self, out, manifest):
        self.out = pathlib.Path(out)
        self.manifest = manifest

    @classmethod
    def open(cls, out, model_info: dict, settings: dict, overwrite: bool = False) -> "AtlasStore":
        """The store for ``out`` (created when missing). An atlas of the same model and settings is
        resumed; another one is refused unless ``overwrite`` (then its files are removed); a
        folder that holds other files and no atlas is always refused (never deleted)."""
        out = pathlib.Path(out)
        if out.exists() and not out.is_dir():
            raise AtlasExists(f"out={str(out)!r} is a file, not a folder: give a folder path, e.g. out='atlas'")
        old = _read_manifest(out)
        if old is None and out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
            raise AtlasExists(f"out={str(out)!r} is not empty and holds no atlas (no {MANIFEST}): "
                              "give a new or empty folder (nothing in it is deleted)")
        if old is not None:
            problem = _difference(old, model_info, settings)
            if problem and not overwrite:
                raise AtlasExists(f"out={str(out)!r} holds an atlas of {problem}: pass overwrite=True "
                                  "(CLI: --overwrite) to replace it, or give another folder")
            if problem:
                _remove_atlas(out)
                old = None
        out.mkdir(parents=True, exist_ok=True)
        manifest = old or {"format": FORMAT, "model": model_info, "settings": settings, "layers": [], "chunks": {}}
        return cls(out, manifest)

    def set_layers(self, layers: list[dict], versions: dict, chunks_planned: int):
        """Record the layers of this run (merged with those of earlier runs, in ``layers``'s order
        first), how many chunks this run plans, and the package versions; write the manifest."""
        known = {layer["name"]: layer for layer in self.manifest["layers"]}
        merged = list(layers) + [layer for name, layer in known.items() if name not in {d["name"] for d in layers}]
        self.manifest["layers"] = merged
        self.manifest["versions"] = versions
        self.manifest["chunks_planned"] = chunks_planned
        self._write_manifest()

    def has(self, chunk) -> bool:
        """True when ``chunk`` is recorded and every image and variant it names is on disk."""
        entry = self.manifest["chunks"].get(chunk.key)
        names = list(entry["images"]) + [v for row in entry.get("variants") or [] for v in row] if entry else []
        return entry is not None and all((self.out / name).is_file() for name in names)

    def write_chunk(self, chunk, payload: dict) -> dict:
        """Write one computed chunk (``engines.compute_chunk``'s payload): its files, then its
        manifest entry. Returns the entry."""
        folder = chunk.folder
        images = []
        for filter_index, image in zip(chunk.filters, payload["images"]):
            name = f"images/{folder}/{filter_index}.png"
            write_atomic(self.out / name, _png_bytes(image))
            images.append(name)
        history = f"histories/{folder}/{chunk.start}-{chunk.end}.json"
        write_atomic(self.out / history, json.dumps({
            "filters": chunk.filters, "activation_history": np.asarray(payload["history"]).T.round(5).tolist()}).encode())
        entry = {"layer": chunk.layer, "filters": chunk.filters, "images": images,
                 "activations": [round(float(a), 5) for a in payload["activations"]],
                 "histories": history, "seconds": round(float(payload["seconds"]), 3),
                 "image_size": payload["image_size"]}
        if payload.get("examples") is not None:
            entry["examples"] = self._write_rows(chunk, "examples", payload["examples"])
            entry["example_activations"] = payload["example_activations"]
        if payload.get("variants") is not None:
            entry["variants"] = self._write_rows(chunk, "variants", payload["variants"])
            entry["variant_activations"] = np.asarray(payload["variant_activations"], "float64").round(5).tolist()
        self.manifest["chunks"][chunk.key] = entry
        self._write_manifest()
        return entry

    def _write_rows(self, chunk, kind, rows) -> list[list[str]]:
        """Each filter's row of images (natural examples or variants) as ``<kind>/<layer>/<f>_<k>.png``."""
        names = []
        for filter_index, filter_patches in zip(chunk.filters, rows):
            row = []
            for k, patch in enumerate(filter_patches):
                name = f"{kind}/{chunk.folder}/{filter_index}_{k}.png"
                write_atomic(self.out / name, _png_bytes(patch))
                row.append(name)
            names.append(row)
        return names

    def _write_manifest(self):
        write_atomic(self.out / MANIFEST, json.dumps(self.manifest, indent=1).encode())


def _read_manifest(out: pathlib.Path):
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = None  # damaged: refused below as an atlas of another format, replaced by overwrite
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return {"format": None, "model": {}, "settings": {}, "layers": [], "chunks": {}}
    return manifest


def _difference(old: dict, model_info: dict, settings: dict):
    """Words for what differs between the atlas on disk and this run's, or None."""
    if old.get("format") != FORMAT:
        return "another format (or a damaged manifest.json)"
    before = old.get("model", {})
    if before.get("fingerprint") != model_info["fingerprint"]:
        return (f"another model ({before.get('name')!r}, weights {str(before.get('fingerprint'))[:8]}; "
                f"this one: {model_info['name']!r}, weights {model_info['fingerprint'][:8]})")
    changed = sorted(k for k in set(old.get("settings", {})) | set(settings)
                     if old.get("settings", {}).get(k) != settings.get(k))
    if changed:
        shown = ", ".join(f"{k}={old['settings'].get(k)!r} (now {settings.get(k)!r})" for k in changed)
        return f"other settings: {shown}"
    return None


def _remove_atlas(out: pathlib.Path):
    """Delete what an atlas writes (and the site files beside it), nothing else."""
    for name in _OWN:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
