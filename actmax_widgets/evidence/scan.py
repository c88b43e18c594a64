"""``dataset_examples``: the natural images that excite each filter most, found by one streaming scan.

The model is cut at the layer (``model_cut``) and run once per batch in one compiled function that
returns, per image and filter, only the strongest activation and its position; ``top_k.TopK``
keeps the k best per filter with their patches. Memory stays bounded by the batch and the
patches kept, whatever the number of images. Finished scans are cached on disk (``cache``).
"""
from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
import weakref

import numpy as np
from keras import ops

from .. import arguments, catalogue, image_sizes, model_cut, model_facts
from ..backend.compiled import compiled
from . import cache as cache_module, image_sources, receptive_field
from .examples import Examples
from .top_k import TopK

# The latest compiled forwards, by layer, size and input range. A few only: each holds its model's
# layers alive (the function calls them), so an unbounded cache would keep every model ever scanned.
_FORWARDS: collections.OrderedDict = collections.OrderedDict()
_FORWARDS_KEPT = 4
_FORWARDS_LOCK = threading.Lock()


@dataclasses.dataclass
class _Plan:
    """What a scan of one layer needs, worked out before any image is read."""

    name: str  # the layer as a person names it
    target: object  # the layer object in the model computed with
    cut: object  # the model from the image to the layer, at ``size``
    filters: list
    size: tuple
    channels: int
    channels_first: bool
    field: receptive_field.ReceptiveField
    windows: np.ndarray  # (positions, 4) patch box of each flat output position


def dataset_examples(model, layer, filters=None, images=None, top_k=9, image_size=None, batch_size=64, *,
                     input_range=(0, 255), cache=True, progress=True, on_progress=None, should_stop=None) -> Examples:
    """The ``top_k`` natural images that excite each filter of ``layer`` most, as patches.

    Parameters
    ----------
    model : keras.Model
    layer : str or int
        A conv layer (each filter's strongest position and the patch it sees: its receptive
        field) or a dense layer (the whole image per unit).
    filters : list of int, optional
        Default: every filter of the layer.
    images : folder path, array (N, H, W, C), list of arrays / PIL images / paths, tf.data.Dataset
        Of images or ``(image, label)`` pairs. Default: ``default_images()``, a few hundred
        crops of 15 photos that ship with scikit-image and scikit-learn (offline). Gray images
        for an RGB model are repeated to RGB, RGB for a gray model turned to luma; each image is
        centre-cropped and resized to ``image_size`` (smaller ones are enlarged). Files that
        cannot be read are skipped with one warning naming them.
    top_k : int
        Patches per filter (each from a different image); fewer when fewer images are scanned.
    image_size : int or (H, W), optional
        What images are fitted to; default the model's input size.
    batch_size : int
    input_range : (low, high)
        The pixel range the model takes; images (0..255) are mapped linearly onto it.
    cache : bool
        Read and write finished scans in ``$ACTMAX_CACHE_DIR`` (``~/.cache/actmax_widgets``). A
        ``tf.data.Dataset`` is never cached (it may change between passes).
    progress : bool
        A progress bar on stderr (tqdm's when installed).
    on_progress : callable(images_done, images_total or None), optional
        Called after each batch.
    should_stop : callable() -> bool, optional
        Checked before each batch; True stops and returns the best so far (``complete=False``).
    """
    arguments.check_model("model", model)
    arguments.check_layer("layer", layer)
    top_k = arguments.check_int("top_k", top_k, minimum=1, fix="ask for at least 1 patch per filter, e.g. top_k=9")
    batch_size = arguments.check_int("batch_size", batch_size, minimum=1, maximum=4096,
                                     fix="use 1..4096 images per batch, e.g. batch_size=64")
    arguments.check_range("input_range", input_range)
    for name, value in (("cache", cache), ("progress", progress)):
        arguments.check_bool(name, value)
    for name, value in (("on_progress", on_progress), ("should_stop", should_stop)):
        arguments.check_callable(name, value)
    plan = _plan(model, layer, filters, arguments.check_image_size("image_size", image_size))
    source = image_sources.open_source(images)
    entry = None
    if cache and source.fingerprint is not None:
        entry = cache_module.key(model=cache_module.model_digest(plan.cut), layer=plan.name, filters=plan.filters,
                                 top_k=top_k, size=plan.size, input_range=list(input_range), images=source.fingerprint)
        cached = cache_module.load(entry)
        if cached is not None:
            if on_progress is not None:
                on_progress(cached.images_scanned, cached.images_scanned)
            return cached
    examples = _scan(plan, source, top_k, batch_size, input_range, progress, on_progress, should_stop)
    if entry is not None and examples.complete:
        cache_module.store(entry, examples)
    return examples


def _plan(model, layer, filters, image_size) -> _Plan:
    facts = model_facts.of(model)  # nested models inlined; subclassed or integer-input models refused
    facts.check_computable()
    working = facts.working
    try:
        info = catalogue.describe_layer(working, facts.working_name(layer))
    except (ValueError, TypeError) as error:  # its words name the value and the fix; the argument is ours
        raise type(error)(f"layer={layer!r}: {error}") from None
    name = facts.catalogue_name(info.name)
    spatial, channels = model_cut.input_image_size(working)
    if len(spatial) != 2 or info.kind not in ("conv2d", "dense") or channels not in (1, 3):
        raise ValueError(f"layer={name!r} ({info.description}) of a model taking {tuple(spatial)} × {channels} "
                         "inputs: dataset_examples scans images (H, W, 1 or 3) for a conv2d or dense layer; "
                         "pick such a layer (or model).")
    sizes = image_sizes.sizes_for(model, layer)
    size = model_cut.resolve_image_size(working, sizes.suggest() if image_size is None
                                        else sizes.check(image_size, "image_size"))
    cut, info = model_cut.cut_at(working, info.name, size)
    channels_first = catalogue.model_is_channels_first(working)
    field = receptive_field.of_layer(cut, channels_first)
    return _Plan(name, working.layers[info.index], cut, _checked_filters(filters, info, name), tuple(size),
                 int(channels), channels_first, field, _windows(cut, field, size, channels_first))


def _checked_filters(filters, info, name):
    if filters is None:
        return list(range(info.n_filters))
    if isinstance(filters, (int, np.integer)) and not isinstance(filters, bool):
        filters = [filters]
    arguments.check_filter_list("filters", filters)
    what = "unit" if info.kind == "dense" else "filter"
    for index in filters:
        if index >= info.n_filters:
            raise ValueError(f"filters: {what} {index} is out of range for layer '{name}' ({info.description}): "
                             f"use {what} indices 0..{info.n_filters - 1}, e.g. filters=[0, 1, 2].")
    if not len(filters):
        raise ValueError("filters=[] holds no filter: pass some, e.g. filters=[0, 1, 2], or None for all.")
    return [int(index) for index in filters]


def _windows(cut, field, size, channels_first):
    """The patch box of every output position, in the flat order the scan's argmax counts in."""
    shape = tuple(cut.outputs[0].shape)
    if len(shape) == 2 or field.whole_image:
        return np.array([field.window((0, 0), size)])
    rows, cols = shape[2:] if channels_first else shape[1:3]
    return np.array([field.window((r, c), size) for r in range(rows) for c in range(cols)])


def _forward(plan, input_range):
    """One compiled function: images (B, H, W, C) in 0..255 and filter indices -> per filter, the
    strongest activation over positions and its flat position, both (B, F). Traced once per
    model, layer, size and input range (the filters are an input): a second scan of the layer,
    other filters included, starts at once."""
    shares_weights = plan.cut.layers[-1] is plan.target  # a resized cut holds copies: never reused
    if not shares_weights:
        return _compiled_forward(plan.cut, plan.size + (plan.channels,), plan.channels_first, input_range)
    key = (id(plan.target), plan.size, tuple(input_range))
    with _FORWARDS_LOCK:
        target, forward = _FORWARDS.get(key, (None, None))
        if target is None or target() is not plan.target:  # an id can be reused by a new layer
            forward = _compiled_forward(plan.cut, plan.size + (plan.channels,), plan.channels_first, input_range)
            _FORWARDS[key] = (weakref.ref(plan.target), forward)
        _FORWARDS.move_to_end(key)
        while len(_FORWARDS) > _FORWARDS_KEPT:
            _FORWARDS.popitem(last=False)
    return forward


def _compiled_forward(cut, image_shape, channels_first, input_range):
    low, high = (float(v) for v in input_range)
    dtype = cut.inputs[0].dtype

    def forward(images, filters):
        x = images * ((high - low) / 255.0) + low
        if channels_first:
            x = ops.transpose(x, [0, 3, 1, 2])
        out = ops.cast(cut(ops.cast(x, dtype), training=False), "float32")
        if channels_first and len(out.shape) > 2:
            out = ops.transpose(out, [0, 2, 3, 1])
        out = ops.take(out, filters, axis=-1)
        flat = ops.reshape(out, (ops.shape(out)[0], -1, ops.shape(filters)[0]))
        return ops.max(flat, axis=1), ops.cast(ops.argmax(flat, axis=1), "int32")

    return compiled(forward, cut.variables, [((None,) + image_shape, "float32"), ((None,), "int32")],
                    differentiates=False)


def _scan(plan, source, top_k, batch_size, input_range, progress, on_progress, should_stop) -> Examples:
    forward, filters = _forward(plan, input_range), np.array(plan.filters, np.int32)
    best = TopK(len(plan.filters), top_k, plan.windows, plan.channels)
    names, complete = [], True
    bar = ProgressBar(source.total) if progress else None
    try:
        batches = image_sources.iterate(None, plan.size, batch_size, plan.channels, source=source)
        for batch in image_sources.prefetched(batches):
            if should_stop is not None and should_stop():
                complete = False
                break
            values, positions = forward(batch.images, filters)
            best.add(ops.convert_to_numpy(values), ops.convert_to_numpy(positions),
                     np.clip(np.round(batch.images), 0, 255).astype(np.uint8))
            names.extend(batch.names)
            done = best.seen + len(source.unreadable)
            if bar is not None:
                bar.update(done)
            if on_progress is not None:
                on_progress(done, source.total)
    finally:
        if bar is not None:
            bar.close()
    image_sources.warn_unreadable(source)
    if best.seen == 0 and complete and source.unreadable:
        raise ValueError(f"images: none of the {len(source.unreadable)} files could be read as an image "
                         f"(e.g. {source.unreadable[0][0]}): pass JPEG or PNG photos.")
    if best.seen == 0 and complete:
        raise ValueError("images: the dataset yielded no images: pass a tf.data.Dataset with at least one "
                         "(check its filters and take()/skip()).")
    return _examples(plan, best, names, complete)


def _examples(plan, best, names, complete) -> Examples:
    k = best.filled()
    field = plan.field
    return Examples(
        layer=plan.name, filters=list(plan.filters), patches=best.patches[:, :k], activations=best.values[:, :k],
        where=plan.windows[best.positions[:, :k]].astype(np.int64), image_indices=best.image_indices[:, :k],
        image_names=names, images_scanned=best.seen, complete=complete,
        receptive_field=tuple(int(s) for s in field.size), image_size=plan.size)


class ProgressBar:
    """Images scanned so far: tqdm's bar when tqdm is installed, else one line on stderr."""

    def __init__(self, total, stream=None):
        self.total, self.stream, self.started = total, stream or sys.stderr, time.perf_counter()
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.tqdm = None
        else:
            self.tqdm = tqdm(total=total, unit="image", desc="Scanning images", leave=False)

    def update(self, done):
        if self.tqdm is not None:
            self.tqdm.update(done - self.tqdm.n)
            return
        of = f"/{self.total}" if self.total else ""
        self.stream.write(f"\rScanning images: {done}{of}  {time.perf_counter() - self.started:5.1f} s")
        self.stream.flush()

    def close(self):
        if self.tqdm is not None:
            self.tqdm.close()
        elif self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
