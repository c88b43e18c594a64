"""Make ``actmax_widgets/data/maco_spectrum.npy``: the natural magnitude spectrum MACO keeps fixed.

    .venv/bin/python tools/make_maco_spectrum.py

MACO (Fel et al., NeurIPS 2023) optimizes only the phase of an image's Fourier transform; the
magnitude stays that of natural photos, so the image keeps their 1/f statistics whatever the
optimizer does. This script estimates that magnitude offline from the colour photographs inside
the scikit-image and scikit-learn wheels (the same files ``evidence.image_sources`` scans; the
grey ones are left out, they have no colour to measure, and so is the Hubble deep field, which is
not a scene):

1. each photo, as float 0..1, is cut into ``REFERENCE`` px crops with half overlap, at full,
   half and quarter resolution (so coarse and fine structure both count);
2. each crop's colours are decorrelated the way ``parameterizations.FourierImage`` re-correlates
   them (multiplied by the inverse of ``COLOR_CORRELATION_NORMALIZED.T``), its mean removed, and a
   Hann window applied (without it the crop's borders add a bright horizontal/vertical cross);
3. the magnitude of each channel's 2-D FFT is averaged over all crops, made symmetric
   (|X(k)| = |X(-k)| holds for every real image), the DC term set to 0, and the whole scaled so a
   ``REFERENCE`` px image with this magnitude has standard deviation 1;
4. it is stored fftshifted (zero frequency in the middle), ``(3, REFERENCE, REFERENCE)``,
   float16.

``maco.maco_magnitude(height, width, channels)`` interpolates it to a run's size.
"""
from __future__ import annotations

import pathlib

import numpy as np
import skimage
import sklearn.datasets
from PIL import Image

from actmax_widgets import photos
from actmax_widgets.parameterizations import COLOR_CORRELATION_NORMALIZED

REFERENCE = 128
SKIMAGE_COLOUR = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "motorcycle_right.png")
SKLEARN_COLOUR = ("china.jpg", "flower.jpg")
OUT = pathlib.Path(__file__).resolve().parent.parent / "actmax_widgets" / "data" / "maco_spectrum.npy"


def colour_photos():
    """The photos as float32 (H, W, 3) in 0..1."""
    paths = [pathlib.Path(skimage.__file__).parent / "data" / name for name in SKIMAGE_COLOUR]
    paths += [pathlib.Path(sklearn.datasets.__file__).parent / "images" / name for name in SKLEARN_COLOUR]
    return [photos.load_photo(path, channels=3) / 255.0 for path in paths]


def crops(photo, size=REFERENCE):
    """Half-overlapping ``size`` crops at full, half and quarter resolution."""
    for factor in (1, 2, 4):
        height, width = photo.shape[0] // factor, photo.shape[1] // factor
        if min(height, width) < size:
            continue
        image = np.asarray(Image.fromarray(np.uint8(np.round(photo * 255))).resize(
            (width, height), Image.LANCZOS), "float32") / 255.0 if factor > 1 else photo
        for top in range(0, height - size + 1, size // 2):
            for left in range(0, width - size + 1, size // 2):
                yield image[top:top + size, left:left + size]


def spectrum(size=REFERENCE):
    decorrelate = np.linalg.inv(COLOR_CORRELATION_NORMALIZED.T)
    window = np.outer(np.hanning(size), np.hanning(size))[..., None]
    total, count = np.zeros((3, size, size)), 0
    for photo in colour_photos():
        for crop in crops(photo, size):
            flat = crop @ decorrelate
            flat = (flat - flat.mean(axis=(0, 1))) * window
            total += np.abs(np.fft.fft2(np.moveaxis(flat, -1, 0)))
            count += 1
    magnitude = total / count
    mirrored = np.roll(magnitude[:, ::-1, ::-1], 1, axis=(1, 2))  # |X(-k)|
    magnitude = (magnitude + mirrored) / 2
    magnitude[:, 0, 0] = 0.0
    # Parseval: an image's variance is sum |X|^2 / N^2 (numpy's and TensorFlow's FFT scaling).
    magnitude *= np.sqrt(3 * size ** 4 / np.sum(magnitude ** 2))
    print(f"{count} crops of {size} px from {len(SKIMAGE_COLOUR) + len(SKLEARN_COLOUR)} photos")
    return np.fft.fftshift(magnitude, axes=(1, 2)).astype("float16")


if __name__ == "__main__":
    result = spectrum()
    np.save(OUT, result)
    print(f"wrote {OUT} {result.shape} {result.dtype}, {OUT.stat().st_size} bytes")
