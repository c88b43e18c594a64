"""A user's photo, from whatever they have at hand, as the array the library computes with.

One loader for every place that takes "my photo" (saliency, Grad-CAM, the widget's photo mode,
accentuation, ``utils.load_img``): a path, the bytes of an uploaded file, a PIL image or an
array, gray or colour, float 0..1, float 0..255 or uint8. Anything else is refused at once with
a message naming the argument, what was passed and the fix, instead of a shape error deep in
TensorFlow. numpy and Pillow only: importing this module does not load TensorFlow.
"""
from __future__ import annotations

import io
import os
import pathlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import arguments

# A phone photo is 12-50 megapixels; beyond that a file is more likely a scan or a decompression
# bomb, and as float32 RGB it alone would take 600 MB before any resizing.
MAX_PIXELS = 50_000_000
_SHAPES = "(H, W), (H, W, 1), (H, W, 3), (H, W, 4) or one photo (1, H, W, C)"


def load_photo(photo, *, channels=3, argument="photo") -> np.ndarray:
    """``photo`` as a float32 ``(H, W, channels)`` array in 0..255.

    Parameters
    ----------
    photo : str, pathlib.Path, bytes, PIL.Image.Image or array
        A file Pillow reads (PNG, JPEG, ...), its content as bytes, a PIL image, or an array
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``, ``(H, W, 4)`` or ``(1, H, W, C)``: uint8, or
        float in 0..1 (when no value exceeds 1) or 0..255. Alpha is dropped.
    channels : int
        1 (gray) or 3 (RGB): what the model takes; gray and colour are converted.
    argument : str
        The caller's name for ``photo``, used in error messages.

    Raises
    ------
    TypeError
        A value of another type.
    ValueError
        A missing file or one Pillow cannot read, a wrong shape, values outside 0..255, NaN, or
        more than ``MAX_PIXELS`` pixels.
    """
    arguments.check_choice("channels", channels, (1, 3), fix="pass channels=3 (RGB) or channels=1 (gray)")
    if isinstance(photo, (str, os.PathLike)):
        array = _from_pil(_open_file(photo, argument), argument)
    elif isinstance(photo, (bytes, bytearray, memoryview)):
        array = _from_pil(_open_bytes(bytes(photo), argument), argument)
    elif isinstance(photo, Image.Image):
        _check_pixels(photo.width, photo.height, argument)
        array = _from_pil(photo, argument)
    elif hasattr(photo, "shape") and hasattr(photo, "dtype") or isinstance(photo, (list, tuple)):
        array = _from_array(np.asarray(photo), argument)
    else:
        raise TypeError(f"{argument}={arguments.show(photo)} ({type(photo).__name__}) is not a photo: pass a "
                        "file path, the bytes of a PNG/JPEG file, a PIL image or an array of shape "
                        f"{_SHAPES}.")
    return to_channels(array, channels)


def fit_photo(array, size) -> np.ndarray:
    """A ``(H, W, C)`` photo as the model sees it: centre-cropped to the aspect of ``size`` (an int
    for a square, or ``(height, width)``), then resized with Pillow's antialiased bilinear filter.
    float32 in, float32 out (each channel resized at full precision)."""
    array = np.asarray(array, dtype="float32")
    if array.ndim != 3:
        raise ValueError(f"fit_photo takes one (H, W, C) photo, got shape {array.shape}: load it with "
                         "load_photo first.")
    height, width = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    if height < 1 or width < 1:
        raise ValueError(f"size={size!r} is not a size: pass a positive int, or (height, width).")
    h, w = array.shape[:2]
    # The largest centred window with the target's aspect ratio: nothing is squashed.
    crop_h, crop_w = (h, max(1, round(h * width / height))) if w * height > h * width else \
        (max(1, round(w * height / width)), w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = array[top:top + crop_h, left:left + crop_w]
    return resize(crop, (height, width))


def resize(array, size) -> np.ndarray:
    """A float ``(H, W, C)`` array resized to ``size`` ``(height, width)`` (squashed, not cropped)
    with Pillow's antialiased bilinear filter, each channel at full float precision."""
    array = np.asarray(array, dtype="float32")
    height, width = int(size[0]), int(size[1])
    if array.shape[:2] == (height, width):
        return np.ascontiguousarray(array)
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c]), mode="F")
                         .resize((width, height), Image.BILINEAR)) for c in range(array.shape[-1])]
    return np.stack(planes, axis=-1).astype("float32")


def _open_file(path, argument):
    path = pathlib.Path(path)
    if not path.is_file():
        why = "it is a folder" if path.is_dir() else "check the spelling and the working directory"
        raise ValueError(f"{argument}='{path}' is not a file: pass the path of a PNG or JPEG photo ({why}).")
    try:
        return _decoded(Image.open(path), argument)
    except UnidentifiedImageError:
        raise ValueError(f"{argument}: '{path.name}' is not an image Pillow can read (PNG or JPEG): pass a "
                         "photo file, e.g. one saved as .png or .jpg.") from None


def _open_bytes(content, argument):
    try:
        return _decoded(Image.open(io.BytesIO(content)), argument)
    except UnidentifiedImageError:
        head = content[:16]
        raise ValueError(f"{argument}: the {len(content)} bytes given (starting {head!r}) are not an image "
                         "Pillow can read (PNG or JPEG): upload a photo file.") from None


def _decoded(image, argument):
    """``image`` (opened lazily, pixels not read yet) checked for size, then decoded."""
    _check_pixels(image.width, image.height, argument)
    try:
        image.load()
    except (OSError, SyntaxError) as error:  # a truncated or corrupt file
        raise ValueError(f"{argument}: the image file is damaged ({error}): save it again or pass another "
                         "photo.") from None
    return ImageOps.exif_transpose(image)  # phone photos are stored sideways with a rotation tag


def _check_pixels(width, height, argument):
    if width * height > MAX_PIXELS:
        raise ValueError(f"{argument} is {width} × {height} pixels ({width * height / 1e6:.0f} megapixels), "
                         f"more than the {MAX_PIXELS // 1_000_000} megapixels accepted: resize it first "
                         "(the model sees a few hundred pixels per side).")


def _from_pil(image, argument):
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float gray: scale, don't clip
        array = np.asarray(image, dtype="float32")
        peak = float(array.max()) if array.size else 0.0
        return (array / (257.0 if peak > 255 else 1.0))[..., None]
    if image.mode in ("L", "LA", "1"):
        return np.asarray(image.convert("L"), dtype="float32")[..., None]
    return np.asarray(image.convert("RGB"), dtype="float32")  # RGBA, P, CMYK, YCbCr...: alpha dropped


def _from_array(array, argument):
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 4:
        raise ValueError(f"{argument} holds {array.shape[0]} images (shape {array.shape}): pass one photo, "
                         f"e.g. {argument}[0].")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        hint = ""
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):
            hint = f" It looks channels-first: pass np.moveaxis({argument}, 0, -1)."
        raise ValueError(f"{argument} has shape {array.shape}, not a photo: pass an array of shape {_SHAPES}.{hint}")
    if 0 in array.shape:
        raise ValueError(f"{argument} has shape {array.shape}, an empty image: pass a photo with pixels.")
    _check_pixels(array.shape[1], array.shape[0], argument)
    return _scaled(array, argument)


def _scaled(array, argument):
    """0..255 float32 from uint8, uint16 (/257), bool, or floats in 0..1 or 0..255."""
    if array.dtype == np.bool_:
        return array.astype("float32") * 255.0
    if array.dtype == np.uint16:
        return array.astype("float32") / 257.0
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{argument} has dtype {array.dtype}, not numbers: pass uint8, or floats in 0..1 or 0..255.")
    values = array.astype("float32")
    if not np.isfinite(values).all():
        raise ValueError(f"{argument} contains NaN or infinite values: pass finite pixel values in 0..255.")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise ValueError(f"{argument} has values from {low:g} to {high:g}, outside 0..255: pass uint8, floats in "
                         "0..1 or 0..255 (undo any preprocessing, e.g. (x + 1) * 127.5 for -1..1).")
    # Floats that never exceed 1 are a 0..1 image (matplotlib's and skimage's convention).
    if np.issubdtype(array.dtype, np.floating) and high <= 1.0:
        values = values * 255.0
    return values


def to_channels(array, channels) -> np.ndarray:
    """A (H, W, 1|3|4) array with ``channels`` (1 or 3): alpha dropped, gray and colour converted;
    the values keep their range."""
    array = array[..., :3]  # alpha dropped
    if channels == 3 and array.shape[-1] == 1:
        return np.repeat(array, 3, axis=-1).astype("float32")
    if channels == 1 and array.shape[-1] == 3:  # ITU-R 601 luma, as Pillow's convert('L')
        return (array @ np.array([0.299, 0.587, 0.114], "float32"))[..., None].astype("float32")
    return np.ascontiguousarray(array, dtype="float32")
