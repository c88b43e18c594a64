"""Reading a built atlas back: which (layer, filter) images it holds, as PNG bytes or arrays.

``open_atlas(path, model)`` refuses an atlas of another model (a layer it does not have, or the
same name with another number of channels), so the widget never shows one model's pictures as
another's.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from . import site_data
from .. import catalogue
from ..evidence import cache

MANIFEST = "manifest.json"


class Atlas:
    """A built atlas folder (``manifest.json`` and the images it names)."""

    def __init__(self, path, manifest):
        self.path = Path(path)
        self.manifest = manifest
        self._channels = site_data.channels(manifest, self.path)

    @property
    def model_name(self) -> str:
        return str((self.manifest.get("model") or {}).get("name", ""))

    @property
    def layers(self) -> list:
        """``[{"name", "kind", "n_filters", ...}]`` as the manifest lists them."""
        return list(self.manifest.get("layers") or [])

    @property
    def settings(self) -> dict:
        return dict(self.manifest.get("settings") or {})

    def image_size(self, layer):
        """The size the atlas's images of ``layer`` were made at (an int, or ``[h, w]`` for a
        non-square model), from its chunks (``settings.image_size`` when none says); None when
        the atlas does not record it."""
        for chunk in (self.manifest.get("chunks") or {}).values():
            if str(chunk.get("layer")) == str(layer) and chunk.get("image_size") is not None:
                return chunk["image_size"]
        return self.settings.get("image_size")

    def filters(self, layer) -> list:
        """The filters of ``layer`` whose image the atlas holds, ascending."""
        return sorted(self._channels.get(str(layer), {}))

    def has(self, layer, filter_index) -> bool:
        return int(filter_index) in self._channels.get(str(layer), {}) and self._file(layer, filter_index).is_file()

    def png(self, layer, filter_index) -> bytes:
        """The channel's image as PNG bytes (KeyError when the atlas does not hold it)."""
        return self._file(layer, filter_index).read_bytes()

    def image(self, layer, filter_index) -> np.ndarray:
        """The channel's image, uint8 ``(H, W, C)``."""
        with Image.open(io.BytesIO(self.png(layer, filter_index))) as picture:
            array = np.asarray(picture)
        return array[..., None] if array.ndim == 2 else array

    def activation(self, layer, filter_index):
        """The activation the image reached (None when the manifest does not say)."""
        return self._channel(layer, filter_index)["activation"]

    def curve(self, layer, filter_index) -> list:
        """The activation at each step (thinned to at most 64 points; empty when not saved)."""
        return list(self._channel(layer, filter_index)["curve"])

    def _channel(self, layer, filter_index):
        try:
            return self._channels[str(layer)][int(filter_index)]
        except KeyError:
            raise KeyError(f"The atlas {str(self.path)!r} holds no image of layer {layer!r}, filter "
                           f"{filter_index!r} (it holds {len(self.filters(layer))} of that layer).") from None

    def _file(self, layer, filter_index) -> Path:
        return self.path / self._channel(layer, filter_index)["image"]

    def check_model(self, model, argument="atlas") -> None:
        """ValueError unless every layer of the atlas is a layer of ``model`` with the same kind
        and number of channels (and the same input shape, when the manifest records it)."""
        own = {info.name: info for info in catalogue.visualizable_layers(model)}
        fix = (f"Build an atlas of this model (actmax_widgets.atlas.build(model, out)) or pass the "
               f"atlas of {self.model_name or 'this model'}.")
        where = f"{argument}={str(self.path)!r} (an atlas of {self.model_name or 'another model'!r})"
        for layer in self.layers:
            name, n_filters = str(layer.get("name")), int(layer.get("n_filters", -1))
            if name not in own:
                raise ValueError(f"{where} does not belong to model {model.name!r}: it has a layer "
                                 f"{name!r} this model lacks. {fix}")
            if own[name].n_filters != n_filters:
                raise ValueError(f"{where} does not belong to model {model.name!r}: layer {name!r} has "
                                 f"{n_filters} channels in the atlas and {own[name].n_filters} in the "
                                 f"model. {fix}")
        recorded_model = self.manifest.get("model") or {}
        recorded = recorded_model.get("input_shape")
        if recorded is not None and _shape(recorded) != _shape(model.input_shape):
            raise ValueError(f"{where} does not belong to model {model.name!r}: its input shape is "
                             f"{_shape(recorded)}, the model's {_shape(model.input_shape)}. {fix}")
        fingerprint = recorded_model.get("fingerprint")
        if fingerprint is not None and fingerprint != cache.model_digest(model):
            raise ValueError(f"{where} was built from other weights than model {model.name!r}'s (same "
                             f"layers, different fingerprint): its images would not be this model's. {fix}")


def _shape(shape):
    """(H, W, C) without the batch axis, for comparing a JSON list with a Keras shape."""
    dims = [None if d is None else int(d) for d in shape]
    return tuple(dims[1:] if len(dims) == 4 else dims)


def open_atlas(path, model=None, *, argument="atlas") -> Atlas:
    """Open the atlas built in ``path``; with ``model``, check that it is an atlas of it."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{argument} must be the folder of a built atlas (str or Path), got "
                        f"{type(path).__name__}. Build one with actmax_widgets.atlas.build(model, out).")
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{argument}={str(path)!r} is not a built atlas (no {MANIFEST} in it). "
                                "Build one with actmax_widgets.atlas.build(model, out) or "
                                "`python -m actmax_widgets atlas --model M --out DIR`.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{argument}={str(path)!r}: {MANIFEST} is not valid JSON ({error}). "
                         "Rebuild the atlas with overwrite=True.") from None
    atlas = Atlas(path, manifest)
    if model is not None:
        atlas.check_model(model, argument=argument)
    return atlas
