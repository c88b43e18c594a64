"""The atlas's unit of work: one layer's filter range, computed by one ``visualize_filters`` call.

A chunk is small enough that a killed run loses little (at most the chunks in flight) and large
enough that a batch fills the machine. Its images do not depend on how the layer was cut into
chunks: each filter's random draws are keyed by (seed, filter index) alone
(``sample_random.sample_keys``), so filters 0-7 in one call equal filters 0-3 and 4-7 in two.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re

DEFAULT_FILTERS_PER_CHUNK = 32


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Filters ``start`` .. ``end - 1`` of ``layer`` (its catalogue name), at ``image_size``."""

    layer: str
    start: int
    end: int
    image_size: int | tuple

    @property
    def key(self) -> str:
        """``'<layer>:<start>-<end>'`` (end exclusive): the chunk's entry in the manifest."""
        return f"{self.layer}:{self.start}-{self.end}"

    @property
    def filters(self) -> list[int]:
        return list(range(self.start, self.end))

    @property
    def folder(self) -> str:
        """The layer's folder name under ``images/``, ``examples/``, ``histories/``."""
        return safe_name(self.layer)


def safe_name(layer: str) -> str:
    """A file-system-safe folder name for a layer name (user data: ``'base/conv 1'``, ``'..'``).

    Unsafe characters become ``_`` and a short hash of the real name keeps two names that map to
    the same text apart (``'a/b'`` and ``'a_b'``).
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", layer).strip(".") or "layer"
    if cleaned == layer:
        return layer
    return f"{cleaned[:80]}-{hashlib.sha1(layer.encode()).hexdigest()[:8]}"


def plan(layers, filters_per_chunk: int) -> list[Chunk]:
    """Chunks for ``layers`` (``(LayerInfo, image_size)`` pairs), in model order, each layer's
    filters cut into runs of ``filters_per_chunk``."""
    chunks = []
    for info, size in layers:
        for start in range(0, info.n_filters, filters_per_chunk):
            chunks.append(Chunk(info.name, start, min(start + filters_per_chunk, info.n_filters), size))
    return chunks


def settings_key(settings: dict) -> str:
    """A short stable hash of the settings that decide the images (what a rerun must match)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
