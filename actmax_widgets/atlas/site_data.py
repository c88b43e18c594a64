"""Reading an atlas's ``manifest.json`` as ``store.py`` writes it: each channel's image,
activation, activation curve and natural examples.

One reading serves the site (``gather``: the data ``data.js`` carries) and the widget
(``reader.py``). The layout (paths relative to the atlas folder)::

    manifest.json   {"format", "model": {"name", "input_shape", "fingerprint"}, "settings",
                     "versions", "layers": [{"name", "kind", "n_filters", "description"}],
                     "chunks_planned", "chunks": {"<layer>:<start>-<end>": chunk}}
    chunk           {"layer", "filters": [f...], "images": ["images/<layer_safe>/<f>.png"...],
                     "activations": [a...], "histories": "histories/<layer_safe>/<start>-<end>.json",
                     "image_size", "seconds", and with natural images "examples":
                     [["examples/<layer_safe>/<f>_<k>.png"...] per filter], "example_activations",
                     and with variants= > 0 "variants": [["variants/<layer_safe>/<f>_<j>.png"...] per
                     filter], "variant_activations": [[a per variant] per filter]}
    histories file  {"filters": [f...], "activation_history": [[a per step] per filter]}
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CURVE_POINTS = 64  # an activation curve drawn in a small SVG needs no more; keeps data.js small


def channels(manifest, out):
    """``{layer: {filter: channel}}`` for every channel the manifest's chunks hold, with a
    channel ``{"filter", "image", "activation", "curve", "examples", "variants"}`` (a variant:
    ``{"image", "activation"}``)."""
    out = Path(out)
    found = {}
    for chunk in (manifest.get("chunks") or {}).values():
        filters = [int(f) for f in chunk.get("filters", [])]
        images = list(chunk.get("images") or [])
        activations = list(chunk.get("activations") or [])
        curves = _histories(out, chunk.get("histories"))
        examples = list(chunk.get("examples") or [])  # written only when the build had images=
        variants = _variants(chunk)
        layer = found.setdefault(str(chunk.get("layer")), {})
        for i, filter_index in enumerate(filters[:len(images)]):
            layer[filter_index] = {
                "filter": filter_index,
                "image": str(images[i]),
                "activation": _number(activations[i] if i < len(activations) else None),
                "curve": curves.get(filter_index, []),
                "examples": [str(e) for e in examples[i]] if i < len(examples) else [],
                "variants": variants[i] if i < len(variants) else [],
            }
    return found


def _variants(chunk):
    """Per filter of ``chunk``, its variants ``[{"image", "activation"}...]`` (none in an atlas
    built with variants=0 or before variants existed)."""
    activations = list(chunk.get("variant_activations") or [])
    rows = []
    for i, row in enumerate(chunk.get("variants") or []):
        values = list(activations[i]) if i < len(activations) else []
        rows.append([{"image": str(path), "activation": _number(values[j] if j < len(values) else None)}
                     for j, path in enumerate(row)])
    return rows


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


def _histories(out, path):
    """Per filter, its activation at every step, thinned to CURVE_POINTS (none when the file
    is missing)."""
    if not path or not (out / path).is_file():
        return {}
    saved = json.loads((out / path).read_text(encoding="utf-8"))
    pairs = zip(saved.get("filters") or [], saved.get("activation_history") or [])
    return {int(f): _thin(values) for f, values in pairs}


def _thin(values):
    values = [_number(v) for v in values]
    if len(values) > CURVE_POINTS:
        picks = np.linspace(0, len(values) - 1, CURVE_POINTS).round().astype(int)
        values = [values[i] for i in picks]
    return values
