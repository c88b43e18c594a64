"""``build``: every channel of a model's layers, computed in chunks and written to an out folder
(``store``) that a browser opens from disk (``site``), resumable and optionally on Ray."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from .. import arguments, catalogue, image_sizes
from . import chunks as chunks_module
from . import engines, store, variants as variants_module

DEFAULT_STEPS = 256
SITE_EVERY_S = 10.0  # rewrite the site's data at most this often while chunks arrive (and at the end)


@dataclasses.dataclass
class AtlasSummary:
    """What one ``build`` call did. ``chunks_computed`` counts chunks computed in this call,
    ``chunks_skipped`` those already in the out folder with the same settings."""

    out: str
    engine: str
    layers: list
    chunks_total: int
    chunks_computed: int
    chunks_skipped: int
    channels_computed: int
    seconds: float

    @property
    def channels_per_minute(self) -> float:
        return 60.0 * self.channels_computed / self.seconds if self.seconds else 0.0


def build(model, out, layers="all", style="fourier", steps=DEFAULT_STEPS, image_size=None, images=None,
          engine="local", address=None, overwrite=False, filters_per_chunk=chunks_module.DEFAULT_FILTERS_PER_CHUNK,
          seed=0, progress=True, *, workers=None, examples_per_channel=6, variants=variants_module.DEFAULT_VARIANTS,
          on_chunk=None) -> AtlasSummary:
    """Compute the image of every channel of ``layers`` and write the atlas to ``out``.

    Parameters
    ----------
    model : keras.Model
    out : str or path
        The atlas folder (created). A rerun with the same model and settings computes only the
        chunks not yet there; another model's or settings' atlas is refused unless ``overwrite``.
    layers : 'all', a layer name, or a list of names / indices
        Default: every layer ``catalogue.visualizable_layers`` lists.
    style, steps, image_size, seed
        As ``visualize_filters``; ``image_size`` is capped per layer as the widget does
        (``image_sizes``: a layer pinned to the model's size uses that).
    images : folder, array, ``evidence.default_images()``..., optional
        Natural images: each channel's ``examples_per_channel`` top patches are stored too.
    variants : int
        Diverse variants per channel (default 3; 0: none): more images of the channel that the
        diversity penalty (weight ``variants.DIVERSITY``) pushes apart, shown in its channel view.
        They cost ``variants`` times the main images' compute.
    engine : 'local' or 'ray'
    address : str, optional
        With ``engine='ray'``: a running cluster's 'host:port' (default: start a local one).
    filters_per_chunk : int
        Filters per ``visualize_filters`` call: a killed run loses at most the chunks in flight.
    workers : int, optional
        With a local Ray cluster: tasks at a time (each gets the CPUs / workers threads).
    on_chunk : callable(key, entry, done, total), optional
        Called after each chunk is written; an exception it raises stops the build (what is
        written stays, and a rerun resumes).
    """
    checked = _checked(model, out, layers, style, steps, image_size, engine, address, filters_per_chunk, seed,
                       workers, examples_per_channel, variants)
    planned = _layers(model, layers, image_size)
    settings = _settings(style, steps, image_size, seed, filters_per_chunk, images, examples_per_channel, variants)
    atlas = store.AtlasStore.open(out, _model_info(model), settings, overwrite=overwrite)
    work = chunks_module.plan(planned, checked["filters_per_chunk"])
    atlas.set_layers([_layer_entry(info, size) for info, size in planned], _versions(), len(work))
    todo = [chunk for chunk in work if not atlas.has(chunk)]
    summary = AtlasSummary(str(out), engine, [info.name for info, _ in planned], len(work), 0,
                           len(work) - len(todo), 0, 0.0)
    started, site = time.perf_counter(), _SiteWriter(out)
    if todo:
        runner = (engines.LocalEngine(model, images) if engine == "local"
                  else engines.RayEngine(model, images, address=address, workers=workers))

        def on_done(chunk, payload):
            entry = atlas.write_chunk(chunk, payload)
            summary.chunks_computed += 1
            summary.channels_computed += len(chunk.filters)
            summary.seconds = time.perf_counter() - started
            if progress:
                _progress_line(summary, chunk)
            site.maybe()
            if on_chunk is not None:
                on_chunk(chunk.key, entry, summary.chunks_computed + summary.chunks_skipped, len(work))

        try:
            runner.run(todo, settings, on_done)
        finally:
            runner.close()
            site.write()
            if progress:
                sys.stderr.write("\n")
    else:
        site.write()
    summary.seconds = time.perf_counter() - started
    return summary


def _checked(model, out, layers, style, steps, image_size, engine, address, filters_per_chunk, seed, workers,
             examples_per_channel, variants) -> dict:
    """Every argument checked before any work: a ValueError/TypeError naming the argument, the
    value and the fix."""
    from .. import styles

    arguments.check_model("model", model)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={arguments.show(out)} is not a folder path: pass e.g. out='atlas'")
    if not (layers == "all" or isinstance(layers, (str, int, list, tuple))):
        raise TypeError(f"layers={arguments.show(layers)} is not 'all', a layer name or a list of names: "
                        "e.g. layers=['block2a_expand_conv', 'block4a_project_conv']")
    arguments.check_choice("style", style, styles.names())
    arguments.check_int("steps", steps, minimum=1, fix="use at least 1 step, e.g. steps=256")
    arguments.check_optional(arguments.check_image_size, "image_size", image_size)
    arguments.check_choice("engine", engine, engines.ENGINES,
                           fix="use engine='local' (this process) or engine='ray' (Ray tasks)")
    if address is not None and engine != "ray":
        raise ValueError(f"address={address!r} is for engine='ray' (engine is {engine!r}): pass engine='ray' "
                         "to join that cluster, or drop address")
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address={arguments.show(address)} is not a string: e.g. address='10.0.0.5:6379'")
    if engine == "ray":
        engines.check_address(address)  # before the out folder is touched
    arguments.check_int("seed", seed, minimum=0, fix="use a seed >= 0, e.g. seed=0")
    arguments.check_optional(arguments.check_int, "workers", workers, minimum=1, fix="use at least 1 worker")
    arguments.check_int("examples_per_channel", examples_per_channel, minimum=1, maximum=64,
                        fix="use 1..64 natural examples per channel, e.g. examples_per_channel=6")
    arguments.check_int("variants", variants, minimum=0, maximum=16,
                        fix="use 0..16 diverse variants per channel, e.g. variants=3 (0: none)")
    return {"filters_per_chunk": arguments.check_int("filters_per_chunk", filters_per_chunk, minimum=1, maximum=1024,
                                                     fix="use 1..1024 filters per chunk, e.g. 32")}


def _layers(model, layers, image_size) -> list:
    """``(LayerInfo, image_size)`` per layer to compute, in model order (as the user listed them)."""
    if layers == "all":
        infos = catalogue.visualizable_layers(model)
    else:
        infos = []
        for layer in [layers] if isinstance(layers, (str, int)) else list(layers):
            try:
                infos.append(catalogue.describe_layer(model, layer))
            except (ValueError, TypeError) as error:
                raise type(error)(f"layers: {layer!r} cannot be visualized ({error}). Use names from "
                                  "catalogue.visualizable_layers(model) (CLI: --list-layers)") from None
    if not infos:
        raise ValueError(f"layers={layers!r}: model '{model.name}' has no layer that can be visualized")
    return [(info, _size(image_sizes.sizes_for(model, info.name).suggest(image_size))) for info in infos]


def _size(size):
    return tuple(int(side) for side in size) if isinstance(size, (tuple, list)) else int(size)


def _settings(style, steps, image_size, seed, filters_per_chunk, images, examples_per_channel, variants) -> dict:
    """The settings that decide the atlas's images and files: a rerun must match all of them."""
    natural = None
    if images is not None:
        from ..evidence import image_sources

        source = image_sources.open_source(images, "images")  # a bad folder is refused here, before work
        natural = {"fingerprint": source.fingerprint, "per_channel": examples_per_channel,
                   "described": str(images) if isinstance(images, (str, os.PathLike)) else type(images).__name__}
    settings = {"style": style, "steps": steps, "image_size": image_size, "seed": seed,
                "filters_per_chunk": filters_per_chunk, "natural_examples": natural}
    if variants:  # absent for none: an atlas built before variants existed still resumes
        settings["variants"] = variants_module.settings(variants)
    return json.loads(json.dumps(settings))  # as it reads back from the manifest (tuples as lists)


def _model_info(model) -> dict:
    from ..evidence import cache

    shape = [None if side is None else int(side) for side in model.inputs[0].shape[1:]] if model.inputs else None
    return {"name": model.name, "input_shape": shape, "parameters": int(model.count_params()),
            "fingerprint": cache.model_digest(model)}


def _layer_entry(info, size) -> dict:
    return {"name": info.name, "kind": info.kind, "class_name": info.class_name, "n_filters": info.n_filters,
            "description": info.description, "image_size": list(size) if isinstance(size, tuple) else size}


def _versions() -> dict:
    """The versions the atlas was computed with: the package, Keras, the Keras backend in use and
    its library (importing only that one), numpy."""
    import importlib

    import keras
    import numpy

    from .. import __version__

    backend = keras.backend.backend()
    return {"actmax_widgets": __version__, "keras": keras.__version__, "backend": backend,
            backend: importlib.import_module(backend).__version__, "numpy": numpy.__version__}


def _progress_line(summary, chunk):
    done = summary.chunks_computed + summary.chunks_skipped
    sys.stderr.write(f"\ratlas: {done}/{summary.chunks_total} chunks ({chunk.key[:40]})  "
                     f"{summary.channels_per_minute:.0f} channels/min   ")
    sys.stderr.flush()


class _SiteWriter:
    """Calls ``site.write_site(out)`` at most every ``SITE_EVERY_S`` and at the end, so the pages
    show a build's progress while it runs."""

    def __init__(self, out):
        self.out, self.last = out, time.perf_counter()

    def maybe(self):
        if time.perf_counter() - self.last >= SITE_EVERY_S:
            self.write()

    def write(self):
        from .site import write_site

        self.last = time.perf_counter()
        write_site(self.out)
