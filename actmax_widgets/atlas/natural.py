"""Each chunk's natural examples (``evidence.dataset_examples``), from one scan of the images per
group of a layer's chunks instead of one per chunk.

A scan runs the model up to the layer over every image whatever the number of filters, so a
layer of 1152 channels in chunks of 32 scanned its images 36 times. Now the first chunk of a group
scans the whole group's filters and the group's other chunks take their rows from it (kept in
this process: the local engine, or one Ray worker). A group is at most ``SCAN_FILTERS`` filters,
cut at fixed places of the layer (multiples of the chunk size), because a scan keeps every
filter's top patches in memory: at 224 px with 6 examples a whole-image patch costs 0.9 MB a
filter, 230 MB a group. Nothing here is written to disk: the chunk's examples are written with the
chunk as before, so a killed run still loses at most the chunks in flight (and a rerun scans the
group of a missing chunk again, once).
"""
from __future__ import annotations

import threading

SCAN_FILTERS = 256
_LOCK = threading.Lock()
_LAST = {}  # "scan": (model, layer, top_k, images fingerprint, first, end, Examples): the last group scanned


def group(chunk, n_filters: int, filters_per_chunk: int) -> range:
    """The filters scanned together with ``chunk``'s: its group of whole chunks of the layer."""
    span = filters_per_chunk * max(1, SCAN_FILTERS // filters_per_chunk)
    first = chunk.start // span * span
    return range(first, min(first + span, n_filters))


def examples(model, chunk, images, settings: dict):
    """``(patches (n, k, h, w, C) uint8, activations (n, k))`` of ``chunk``'s filters."""
    from .. import catalogue
    from ..evidence import dataset_examples

    natural = settings["natural_examples"]
    top_k = natural["per_channel"]
    with _LOCK:
        last = _LAST.get("scan")
        if last is None or not (last[0] is model and last[1:4] == (chunk.layer, top_k, natural["fingerprint"])
                                and last[4] <= chunk.start and chunk.end <= last[5]):
            filters = group(chunk, catalogue.describe_layer(model, chunk.layer).n_filters, settings["filters_per_chunk"])
            _LAST.clear()  # one group held at a time: chunks arrive in layer order
            # cache=False: the atlas keeps the examples itself; the evidence cache would hold a
            # second copy of every patch of the model on disk.
            scan = dataset_examples(model, chunk.layer, list(filters), images, top_k=top_k, progress=False, cache=False)
            last = _LAST["scan"] = (model, chunk.layer, top_k, natural["fingerprint"], filters.start, filters.stop, scan)
    scan, first = last[6], last[4]
    rows = [f - first for f in chunk.filters]
    return scan.patches[rows], scan.activations[rows]
