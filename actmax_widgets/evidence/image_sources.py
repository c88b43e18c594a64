"""Natural images to scan, from whatever a person has: a folder, arrays, PIL images, a tf.data
pipeline, or the offline default set; streamed in batches at the size the model sees.

Every image goes through ``photos.load_photo`` (gray and colour converted to the model's
channels, uint8 or float 0..1 / 0..255 read alike) and ``photos.fit_photo`` (centre-cropped to the
model's aspect and resized, so an image smaller than the model's input is enlarged). A file that
cannot be read is skipped; one warning at the end names them all.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib
import queue
import threading
import warnings

import numpy as np

from .. import arguments, photos

SUFFIXES = (".jpg", ".jpeg", ".png")

# The photographs in scikit-image's wheel (its test patterns, drawings, microscopy and the binary
# horse are left out) and scikit-learn's two sample photos: natural images available offline.
_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                   "motorcycle_right.png", "hubble_deep_field.jpg", "camera.png", "coins.png", "moon.png",
                   "brick.png", "grass.png", "gravel.png")
_SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
# Crops whose side is this fraction of the photo's short side, laid over it with overlap: the
# whole scene, its halves and its thirds, so both objects and textures are there to be found.
_CROP_SCALES = (1.0, 1 / 2, 1 / 3)


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images with a name each; behaves as a list of the images (arrays, PIL images or paths)."""

    images: tuple
    names: tuple
    fingerprint: str  # what identifies the set for the cache

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]

    def __iter__(self):
        return iter(self.images)


@functools.cache
def default_images() -> ImageSet:
    """The offline image set: crops at three scales of the photographs that ship inside the
    scikit-image and scikit-learn wheels (no download). A few hundred crops of 15 photos: enough
    to see what a filter likes, far too few to find its rarest favourites (point ``images=`` at a
    folder of your own for that)."""
    import skimage
    import sklearn.datasets

    folders = {name: pathlib.Path(skimage.__file__).parent / "data" for name in _SKIMAGE_PHOTOS}
    folders.update({name: pathlib.Path(sklearn.datasets.__file__).parent / "images" for name in _SKLEARN_PHOTOS})
    images, names = [], []
    for name, folder in folders.items():
        photo = photos.load_photo(folder / name, channels=3, argument="default_images").astype(np.uint8)
        for top, left, side in _crops(photo.shape[:2]):
            images.append(photo[top:top + side, left:left + side])  # views: the photo is held once
            names.append(f"{name} [{side} px at {top},{left}]")
    fingerprint = _digest(["default", skimage.__version__, sklearn.__version__, *names])
    return ImageSet(tuple(images), tuple(names), fingerprint)


def _crops(shape):
    height, width = shape
    crops = []
    for scale in _CROP_SCALES:
        side = int(min(height, width) * scale)
        for top in _starts(height, side):
            crops.extend((top, left, side) for left in _starts(width, side))
    return crops


def _starts(length, side):
    count = int(np.ceil(length / side - 1e-9))
    return sorted({int(round(i * (length - side) / max(count - 1, 1))) for i in range(count)})


@dataclasses.dataclass
class Source:
    """One set of images to scan. ``total``: how many (None for a tf.data pipeline);
    ``fingerprint``: a digest that changes when the images do (None: not cacheable)."""

    items: object  # a callable returning an iterator of (name, image)
    total: int | None
    fingerprint: str | None
    unreadable: list = dataclasses.field(default_factory=list)


def open_source(images, argument="images") -> Source:
    """A ``Source`` for ``images``: a folder path, an ``ImageSet``, an array ``(N, H, W, C)`` or
    ``(N, H, W)``, a list of arrays / PIL images / file paths, or a ``tf.data.Dataset`` of images
    or ``(image, label)`` pairs. Raises a ValueError/TypeError naming ``argument`` otherwise."""
    if images is None:
        images = default_images()
    if isinstance(images, (str, os.PathLike)):
        return _folder(pathlib.Path(images).expanduser(), argument)
    if isinstance(images, ImageSet):
        pairs = list(zip(images.names, images.images))
        return Source(lambda: iter(pairs), len(pairs), images.fingerprint)
    if type(images).__module__.startswith("tensorflow") and hasattr(images, "as_numpy_iterator"):
        return Source(lambda: _dataset_items(images, argument), None, None)
    if hasattr(images, "shape") and hasattr(images, "dtype"):
        return _array(np.asarray(images), argument)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"{argument}=[] holds no images: pass a folder, an array (N, H, W, C) or a list "
                             "of images (leave it out for the offline default set).")
        pairs = [(f"{argument}[{i}]", image) for i, image in enumerate(images)]
        return Source(lambda: iter(pairs), len(pairs), _digest(_identity(image) for image in images))
    raise TypeError(f"{argument}={arguments.show(images)} ({type(images).__name__}) is not a set of images: pass "
                    "a folder path, an array (N, H, W, C), a list of arrays or PIL images, or a tf.data.Dataset.")


def _folder(folder, argument):
    if not folder.is_dir():
        kind = "a file, not a folder" if folder.is_file() else "not an existing folder"
        raise ValueError(f"{argument}='{folder}' is {kind}: pass a folder of JPEG/PNG photos (searched "
                         "recursively), or a list of paths.")
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in SUFFIXES and path.is_file())
    if not files:
        raise ValueError(f"{argument}='{folder}' holds no JPEG or PNG files (searched recursively): put photos "
                         "there (.jpg, .jpeg, .png), or leave images out for the offline default set.")
    stats = [(str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    pairs = [(str(path), path) for path in files]
    return Source(lambda: iter(pairs), len(pairs), _digest(map(repr, stats)))


def _array(array, argument):
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        array = array[..., None]  # (N, H, W) gray images
    if array.ndim != 4:
        raise ValueError(f"{argument} has shape {array.shape}: pass images as (N, H, W, C) or (N, H, W), "
                         "or a list of (H, W, C) arrays.")
    if len(array) == 0:
        raise ValueError(f"{argument} has shape {array.shape}, no images: pass at least one.")
    if np.issubdtype(array.dtype, np.floating):
        array = _as_uint8(array)
    pairs = [(f"{argument}[{i}]", image) for i, image in enumerate(array)]
    fingerprint = _digest([repr((array.shape, str(array.dtype))), hashlib.blake2b(
        np.ascontiguousarray(array).data, digest_size=16).hexdigest()])
    return Source(lambda: iter(pairs), len(pairs), fingerprint)


def _as_uint8(array):
    """A float set in 0..255: its range judged on the whole set (0..1 when no value exceeds 1),
    then stored as uint8. ``load_photo`` judges each image on its own, so a float image left as it
    is, in a 0..255 set, that is near black (max <= 1) would be multiplied by 255 there; uint8 is
    read as 0..255 whatever its values. A set with values outside the range (or NaN) is left as is:
    ``load_photo`` refuses it with the image's name."""
    if np.nanmax(array) <= 1.0:
        array = array * 255.0
    if not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 255):
        return array
    return np.round(array).astype(np.uint8)


def _dataset_items(dataset, argument):
    index = 0
    for element in dataset.as_numpy_iterator():
        if isinstance(element, tuple):
            element = element[0]  # (image, label)
        if isinstance(element, dict):
            raise TypeError(f"{argument}: the dataset yields dicts ({sorted(element)}): map it to images first, "
                            "e.g. dataset.map(lambda x: x['image']).")
        batch = np.asarray(element)
        for image in (batch if batch.ndim == 4 else [batch]):  # a batched dataset yields (B, H, W, C)
            yield f"{argument}[{index}]", image
            index += 1


def _identity(image):
    if isinstance(image, (str, os.PathLike)):
        stat = os.stat(image) if os.path.exists(image) else None
        return repr((str(image), stat and (stat.st_size, stat.st_mtime_ns)))
    if hasattr(image, "tobytes"):  # PIL images and arrays: their pixels
        return hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + repr(getattr(image, "shape", image.size))
    return repr(image)


def _digest(parts):
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclasses.dataclass
class Batch:
    images: np.ndarray  # (B, H, W, C) float32 in 0..255 at the scanned size
    names: list


def iterate(images, size, batch_size, channels=3, argument="images", source=None):
    """Batches of ``images`` (see ``open_source``) fitted to ``size`` (H, W): ``Batch`` objects.
    Files that cannot be read are skipped (``source.unreadable`` lists them; ``warn_unreadable``
    says so once)."""
    source = source or open_source(images, argument)
    pending, names = [], []
    for name, image in source.items():
        try:
            photo = photos.load_photo(image, channels=channels, argument=name)
        except ValueError as error:
            if not isinstance(image, (str, os.PathLike)):
                raise  # an array the caller passed: its mistake, said at once
            source.unreadable.append((name, str(error)))
            continue
        pending.append(photos.fit_photo(photo, size))
        names.append(name)
        if len(pending) == batch_size:
            yield Batch(np.stack(pending), names)
            pending, names = [], []
    if pending:
        yield Batch(np.stack(pending), names)


def warn_unreadable(source, argument="images"):
    """One warning naming every file of ``source`` that could not be read."""
    if source.unreadable:
        shown = ", ".join(name for name, _ in source.unreadable[:10])
        more = f" and {len(source.unreadable) - 10} more" if len(source.unreadable) > 10 else ""
        warnings.warn(f"{argument}: skipped {len(source.unreadable)} file(s) that are not images Pillow can read: "
                      f"{shown}{more}. ({source.unreadable[0][1]})", stacklevel=3)


def prefetched(batches, depth=2):
    """``batches`` (an iterator) read ahead by ``depth`` in a thread: files are decoded and
    resized while the model runs on the batch before (TensorFlow releases the GIL). An error in
    the reader is raised here; closing this generator (a ``break``) stops the reader."""
    ready, stop, end = queue.Queue(maxsize=depth), threading.Event(), object()

    def hand_over(item):
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
            hand_over(end)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            hand_over(error)

    reader = threading.Thread(target=read, name="actmax-image-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)
