"""A small atlas store written by hand in the layout ``atlas/store.py`` writes (described in
``atlas/site_data.py``), for testing the site and the reader without running a build:
manifest.json, one PNG per channel (a distinct colour per filter, so a test can tell which image
it got), histories, natural examples and diverse variants."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from actmax_widgets.atlas.chunks import safe_name


def colour(layer_index, filter_index):
    return (40 + 50 * layer_index, (filter_index * 37) % 256, 200 - 10 * filter_index % 200)


def write_store(out, layers, *, model_name="conv_net", input_shape=(16, 16, 3), size=16,
                chunk=2, examples=False, planned_chunks=None, variants=0):
    """``layers``: ``[(name, kind, n_filters, filters_done), ...]``. Returns ``out``."""
    out = Path(out)
    manifest = {"format": 1, "model": {"name": model_name, "input_shape": list(input_shape)},
                "settings": {"style": "fourier", "steps": 8, "image_size": size, "seed": 0},
                "layers": [], "chunks": {}}
    for li, (name, kind, n_filters, done) in enumerate(layers):
        manifest["layers"].append({"name": name, "kind": kind, "n_filters": n_filters,
                                   "description": f"{name} — {kind} {n_filters} ch"})
        folder = safe_name(name)
        for start in range(0, len(done), chunk):
            filters = list(done[start:start + chunk])
            entry = {"layer": name, "filters": filters, "images": [], "activations": [],
                     "histories": f"histories/{folder}/{filters[0]}-{filters[-1] + 1}.json", "seconds": 0.1}
            for f in filters:
                path = f"images/{folder}/{f}.png"
                _png(out / path, colour(li, f), size)
                entry["images"].append(path)
                entry["activations"].append(1.5 + f)
            if variants:
                entry["variants"] = [[f"variants/{folder}/{f}_{j}.png" for j in range(variants)] for f in filters]
                entry["variant_activations"] = [[1.0 + f + j / 10 for j in range(variants)] for f in filters]
                for row in entry["variants"]:
                    for j, variant in enumerate(row):
                        _png(out / variant, (200, 40 * j, 60), size)
            if examples:
                entry["examples"] = [[f"examples/{folder}/{f}_{k}.png" for k in range(3)] for f in filters]
                for row in entry["examples"]:
                    for k, example in enumerate(row):
                        _png(out / example, (k * 80, 90, 90), size)
            histories = out / entry["histories"]
            histories.parent.mkdir(parents=True, exist_ok=True)
            histories.write_text(json.dumps({"filters": filters,
                                             "activation_history": [list(np.linspace(0, 1.5 + f, 8)) for f in filters]}))
            manifest["chunks"][f"{name}:{filters[0]}-{filters[-1] + 1}"] = entry
    if variants:
        manifest["settings"]["variants"] = {"count": variants, "diversity": 10.0}
    if planned_chunks is not None:
        manifest["chunks_planned"] = planned_chunks
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return out


def _png(path, rgb, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), rgb, np.uint8)).save(path)
