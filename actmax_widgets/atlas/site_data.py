"""Reading an atlas's ``manifest.json`` (layout in CONTRACTS.md, written by ``store.py``): each
channel's image, activation, activation curve, diverse variants and natural examples.

One reading serves the site (``gather``: the data ``data.js`` carries) and the widget
(``reader.py``). Paths in the manifest are relative to the atlas folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CURVE_POINTS = 64  # an activation curve drawn in a small SVG needs no more; keeps data.js small


def channels(manifest, out):
    """``{layer: {filter: channel}}`` for every channel the manifest's chunks hold, with a
    channel ``{"filter", "image", "activation", "curve", "variants", "examples"}``."""
    out = Path(out)
    found = {}
    for chunk in (manifest.get("chunks") or {}).values():
        filters = [int(f) for f in chunk.get("filters", [])]
        images = list(chunk.get("images") or [])
        activations = list(chunk.get("activations") or [None] * len(filters))
        curves = _histories(out, chunk.get("histories"), filters)
        variants = chunk.get("variants") or [[] for _ in filters]
        examples = chunk.get("examples")
        layer = found.setdefault(str(chunk.get("layer")), {})
        for i, filter_index in enumerate(filters):
            if i >= len(images):
                break
            image = str(images[i])
            layer[filter_index] = {
                "filter": filter_index,
                "image": image,
                "activation": _number(activations[i] if i < len(activations) else None),
                "curve": curves.get(filter_index, []),
                "variants": [str(v) for v in (variants[i] if i < len(variants) else [])],
                "examples": ([str(e) for e in examples[i]] if examples and i < len(examples)
                             else _examples(out, image, filter_index)),
            }
    return found


def gather(manifest, out) -> dict:
    """What the site shows: the model, settings, progress and every layer's channels in order."""
    found = channels(manifest, out)
    layers = []
    for layer in manifest.get("layers") or []:
        name = str(layer.get("name"))
        held = found.get(name, {})
        layers.append({
            "name": name,
            "kind": str(layer.get("kind", "")),
            "n_filters": int(layer.get("n_filters", 0)),
            "description": str(layer.get("description", "")),
            "channels": [held[f] for f in sorted(held)],
        })
    chunks_done = len(manifest.get("chunks") or {})
    return {
        "format": manifest.get("format"),
        "model": manifest.get("model") or {},
        "settings": manifest.get("settings") or {},
        "versions": manifest.get("versions") or {},
        "progress": {
            "chunks_done": chunks_done,
            "chunks_planned": _planned(manifest, chunks_done),
            "channels_done": sum(len(layer["channels"]) for layer in layers),
            "channels_planned": sum(layer["n_filters"] for layer in layers),
        },
        "layers": layers,
    }


def _planned(manifest, done):
    """The chunks the build plans: ``chunks_planned`` when the manifest says, else each layer's
    filters cut into ``settings.filters_per_chunk`` (as ``chunks.plan`` cuts them); None when
    neither is known (the site then counts channels only)."""
    planned = manifest.get("chunks_planned")
    per_chunk = (manifest.get("settings") or {}).get("filters_per_chunk")
    if planned is None and isinstance(per_chunk, int) and per_chunk > 0:
        planned = sum(-(-int(layer.get("n_filters", 0)) // per_chunk) for layer in manifest.get("layers") or [])
    return max(int(planned), done) if planned is not None else None


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _histories(out, path, filters):
    """Per filter, its activation at every step, thinned to CURVE_POINTS: JSON ``{"filters",
    "activation_history": [per filter [per step]]}`` (store.py), a list parallel to ``filters``,
    a dict keyed by filter, or an .npz array ``(steps, filters)``."""
    if not path or not (out / path).is_file():
        return {}
    if str(path).endswith(".npz"):
        with np.load(out / path) as saved:
            key = "activation_history" if "activation_history" in saved else saved.files[0]
            rows = np.asarray(saved[key], dtype="float64").T.tolist()
    else:
        rows = json.loads((out / path).read_text(encoding="utf-8"))
    for key in ("activation_history", "activation"):  # store.py's layout: one row per filter
        if isinstance(rows, dict) and isinstance(rows.get(key), list):
            filters, rows = rows.get("filters", filters), rows[key]
    if isinstance(rows, dict):
        pairs = [(int(k), v) for k, v in rows.items() if str(k).lstrip("-").isdigit()]
    else:
        pairs = list(zip(filters, rows))
    return {f: _thin(values) for f, values in pairs if isinstance(values, list)}


def _thin(values):
    values = [_number(v) for v in values]
    if len(values) > CURVE_POINTS:
        picks = np.linspace(0, len(values) - 1, CURVE_POINTS).round().astype(int)
        values = [values[i] for i in picks]
    return values


def _examples(out, image, filter_index):
    """Natural examples ``examples/<layer_safe>/<filter>_<k>.png`` (the image's folder name is
    the layer's safe name), best first; none when the atlas was built without images."""
    layer_safe = Path(image).parent.name
    folder = out / "examples" / layer_safe
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{filter_index}_*.png"):
        rank = path.stem.split("_", 1)[1]
        if rank.isdigit():
            found.append((int(rank), f"examples/{layer_safe}/{path.name}"))
    return [name for _, name in sorted(found)]
