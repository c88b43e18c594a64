"""Feature accentuation (Hamblin et al., 2024): what a filter wants *in this photo*.

Activation maximization starts from noise and shows what a filter likes anywhere; accentuation
starts from a photo and changes it only as much as raising the filter's activation is worth, so
the result is the photo with the filter's feature strengthened where the filter looks, and a
change map shows where that was.

It runs on the package's engine: the image is the photo in the Fourier parameterization
(``parameterizations.FourierImage``, whose inverse gives the starting coefficients), the losses
are the layer's target activation (the same one ``visualize_filters`` maximizes, with the same
cut model, folded batch norms and target head) and ``PhotoDistance``, the image's mean squared
difference from the photo, weighted by ``strength``. All filters run as one batch in one
compiled step. (Hamblin et al. hold the image near the photo in a layer's features; a pixel
distance is what is held here, so "how far from the photo" is measured in what a person sees.)
"""
from __future__ import annotations

import dataclasses
import threading
import weakref

import keras
import numpy as np
from keras import ops
from scipy import ndimage

from .. import arguments, catalogue, parameterizations, photos, render, utils
from ..engine import CompiledOptimizer, Problem
from ..losses import Loss
from ..sample_random import sample_keys
from ..visualization import _chunks, _masks, compiled_for
from . import measures

# Adam at a constant small step: the photo's coefficients are already a good image, and every
# step should move it a little (a decaying schedule would freeze it before the penalty balances).
OPTIMIZER = {"optimizer": "adam", "learning_rate": 0.02}
DECAY = 1.75  # the 'fourier' style's spectrum: changes come as smooth blobs, not pixel noise
# A distance of 1 is a root-mean-square change of 10% of the input range: with strength 1, raising
# the filter by the layer's typical activation on the photo is worth that much change.
DISTANCE_UNIT = 0.1
# Sigmoid targets kept inside (0, 1): a pure black or white pixel has no finite coefficient. Half
# a grey level in: a 0..255 photo still rounds back to itself.
_EDGE = 0.5 / 255
# A change map is scaled to its largest change, or to this share of the range if that is larger:
# an image that hardly changed gets a dark map, not its rounding noise stretched to full scale.
_CHANGE_FLOOR = 0.05


class PhotoFourierImage(parameterizations.FourierImage):
    """``FourierImage`` that can start from given images: ``init_params`` inverts ``to_image``
    (sigmoid, colour decorrelation and the weighted inverse FFT) for ``seed_images``; values at
    the very ends of the range move in by half a grey level (a sigmoid never reaches them)."""

    name = "photo-fourier"

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        if seed_images is None:
            return super().init_params(keys, image_shape, input_range)
        height, width, channels = self._spatial(image_shape)
        self._run.set(width, input_range)
        low, high = (float(v) for v in input_range)
        fraction = np.clip((np.asarray(seed_images, "float64") - low) / (high - low), _EDGE, 1 - _EDGE)
        mixed = np.log(fraction / (1 - fraction))  # the sigmoid's inverse
        if self.decorrelate and channels == 3:
            mixed = mixed @ np.linalg.inv(parameterizations.COLOR_CORRELATION_NORMALIZED.T.astype("float64"))
        spatial = np.moveaxis(mixed * 4.0, -1, 1)  # (B, C, H, W), undoing to_image's / 4
        spectrum = np.fft.rfft2(spatial) / parameterizations.spectrum_scale(height, width, self.decay)
        return np.stack([spectrum.real, spectrum.imag], axis=1).astype("float32")


class _PhotoAnchor(keras.layers.Layer):
    """Holds the photo (a non-trainable weight, so a traced step follows a new photo without
    retracing) and returns each image's mean squared difference from it, in ``DISTANCE_UNIT``s."""

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.photo = self.add_weight(shape=(1,) + tuple(image_shape), initializer="zeros", trainable=False,
                                     name="photo")
        self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="inverse_range")

    def call(self, images):
        difference = (ops.cast(images, "float32") - self.photo) * self.scale / DISTANCE_UNIT
        return ops.mean(ops.square(difference), axis=list(range(1, len(images.shape))))


class PhotoDistance(Loss):
    """The image's mean squared difference from a photo, in units of a 10% root-mean-square
    change of the input range: 0 on the photo itself. ``set_photo`` sets the photo (in the
    model's layout and input range) before a run."""

    name = "Photo distance"

    def __init__(self, img_input):
        self.img = img_input
        self.anchor = _PhotoAnchor(tuple(img_input.shape[1:]), name="photo_anchor")

    def build_loss(self):
        return self.anchor(self.img)

    def set_photo(self, photo, input_range):
        low, high = (float(v) for v in input_range)
        self.anchor.photo.assign(np.asarray(photo, "float32")[None])
        self.anchor.scale.assign(1.0 / (high - low))


_ANCHORED = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


def _anchored(model, layer, image_size):
    """The (cached) ``CompiledOptimizer`` of accentuation on ``layer`` and its ``LayerInfo``:
    ``visualize_filters``'s target loss and cut model, plus ``PhotoDistance``."""
    base, info = compiled_for(model, layer, image_size=image_size, uncap_relu6=True)
    with _LOCK:
        compiled = _ANCHORED.get(base)
        if compiled is None:
            target, problem = base.problem.losses[0], base.problem
            image = problem.loss_model.inputs[0]
            losses = [(target, 1.0), (PhotoDistance(image), 1.0)]
            anchored = Problem(image, losses, channels_first=problem.channels_first, precision=problem.precision)
            compiled = _ANCHORED[base] = CompiledOptimizer(
                anchored, PhotoFourierImage(decay=DECAY), optimizer_settings=OPTIMIZER)
    return compiled, info


@dataclasses.dataclass
class Accentuation:
    """What ``accentuate`` made.

    Attributes
    ----------
    images : (F, H, W, C) uint8 — the photo accentuated for each filter
    activations : (F,) float32 — each filter's mean activation on its image
    start_activations : (F,) float32 — each filter's mean activation on the photo
    change_maps : (F, H, W) float32 in [0, 1] — where each image differs from the photo (mean
        absolute difference over colours, blurred over a few pixels, divided by its largest value
        or by 5% of the range if that is larger: 1 where it changed most)
    distances : (F,) float32 — root-mean-square difference from the photo, as a share of 0..255
    photo : (H, W, C) uint8 — the photo as the model saw it (cropped and resized)
    layer, filters, strength, steps — what was asked
    """

    images: np.ndarray
    activations: np.ndarray
    start_activations: np.ndarray
    change_maps: np.ndarray
    distances: np.ndarray
    photo: np.ndarray
    layer: str
    filters: list
    strength: float
    steps: int

    def grid(self, **grid_options):
        """The photo, then each filter's image captioned with its activation before → after."""
        labels = ["photo"] + [f"{f}: {a:.2f} → {b:.2f}" for f, a, b in
                              zip(self.filters, self.start_activations, self.activations)]
        grid_options.setdefault("title", f"{self.layer} · accentuated, strength {self.strength:g}")
        return render.labelled_grid([self.photo, *self.images], labels, **grid_options)

    def save(self, path, **grid_options):
        """Write ``grid()`` as a PNG file; returns ``path``."""
        render.save_png(self.grid(**grid_options), path)
        return path


def accentuate(model, layer, filters, image, steps=64, strength=8.0, image_size=None, *, batch_size=32,
               input_range=(0, 255)) -> Accentuation:
    """Change ``image`` just enough to raise each filter's activation: what it wants in this photo.

    Parameters
    ----------
    model : keras.Model
    layer : int or str
        The layer (index into ``model.layers`` or name).
    filters : list of int
        Channels of ``layer`` (a 2-D convolutional layer, or one after it); one image each, all
        optimized together.
    image : path, bytes, PIL image or array
        The photo (anything ``photos.load_photo`` reads), centre-cropped and resized to the size
        the model sees.
    steps : int
        Optimization steps (Adam at 0.02 on the photo's Fourier coefficients).
    strength : float
        How firmly the image is held to the photo: the activation gained (in units of the layer's
        typical activation on the photo) is traded against the mean squared change (in units of
        a 10% root-mean-square change). 0 lets the image drift freely; higher stays closer. On
        EfficientNet-Lite0 the default 8 changes a photo by 4-5% root-mean-square (visible
        texture); 2 by about 8%, 32 by 2-3%.
    image_size : int or (H, W), optional
        Default: the model's input size (128 where it has none).
    batch_size : int
        Most filters optimized at once (more run in chunks).
    input_range : (low, high)
        What the model takes (the embedded models: 0..255).

    Returns
    -------
    Accentuation
    """
    arguments.check(model=model, layer=layer, filters=filters, image_size=image_size, batch_size=batch_size,
                    input_range=input_range)
    steps = arguments.check_int("steps", steps, minimum=1, fix="pass the number of steps, at least 1, e.g. steps=64")
    strength = arguments.check_number("strength", strength, minimum=0, fix=(
        "use a weight >= 0, e.g. strength=8 (higher keeps the image closer to the photo, 0 lets it drift)"))
    if filters is not None and not list(filters):
        raise ValueError("filters=[] is empty: give at least one filter, e.g. filters=[0, 1, 2].")
    compiled, info = _anchored(model, layer, arguments.check_image_size("image_size", image_size))
    targets = catalogue.check_filter_indices(info, filters)
    if info.kind != "conv2d":
        raise ValueError(f"Layer '{info.name}' is {info.kind}: accentuation changes a photo, so it needs a 2-D "
                         "convolutional model; pick a layer of a model that takes images.")
    problem = compiled.problem
    height, width, channels = problem.image_shape
    low, high = (float(v) for v in input_range)
    photo = photos.fit_photo(photos.load_photo(image, channels=channels, argument="image"), (height, width))
    photo_uint8 = np.clip(np.round(photo), 0, 255).astype(np.uint8)
    photo_in_range = low + photo_uint8.astype("float32") / 255.0 * (high - low)
    probe = measures.probe_for(model, layer, (height, width))
    on_photo = probe(photo_in_range[None])[0]
    # The layer's typical activation on this photo: the unit in which activation gain is counted,
    # so one strength means the same at every layer.
    typical = max(float(np.mean(np.abs(on_photo))), 1e-6)
    with _RUN_LOCK:  # the photo lives in the shared compiled step: one accentuation at a time
        problem.losses[1].set_photo(problem.to_model_format(photo_in_range[None])[0], input_range)
        images = _optimize(compiled, targets, photo_in_range, steps, strength, typical, batch_size, input_range)
    return _report(probe, info, targets, images, photo_uint8, on_photo, strength, steps, input_range)


def _optimize(compiled, targets, photo, steps, strength, typical, batch_size, input_range):
    """``(F, H, W, C)`` uint8: the best image reached for each target, in chunks of at most
    ``batch_size`` padded to one size (one traced step)."""
    problem, parameterization = compiled.problem, compiled.parameterization
    weights = np.array([1.0, strength], "float32")
    spans, chunk_size = _chunks(len(targets), batch_size)
    images = []
    for start, end in spans:
        chunk = targets[start:end] + [targets[end - 1]] * (chunk_size - (end - start))
        masks = _masks(chunk, problem.n_channels[0]) / typical
        record = compiled.run(sample_keys(0, chunk), masks, weights, max_iter=steps,
                              seed_images=np.repeat(photo[None], chunk_size, 0), input_range=input_range)
        images += [parameterization.display(image, input_range) for image in record.best_images[:end - start]]
    return np.stack(images)


def _report(probe, info, targets, images, photo, on_photo, strength, steps, input_range):
    low, high = (float(v) for v in input_range)
    on_images = probe(low + images.astype("float32") / 255.0 * (high - low))

    def of_target(activations, target):
        return float(sum(activations[index] for index in utils.listify(target)))

    difference = np.abs(images.astype("float32") - photo.astype("float32")[None]) / 255.0
    # Blurred over a few pixels: a map of regions, not of single pixels the eye cannot follow.
    change = ndimage.gaussian_filter(difference.mean(axis=-1), sigma=(0, *[max(1.0, n / 64) for n in images.shape[1:3]]))
    peak = np.maximum(change.max(axis=(1, 2), keepdims=True), _CHANGE_FLOOR)
    return Accentuation(
        images=images,
        activations=np.array([of_target(row, t) for row, t in zip(on_images, targets)], "float32"),
        start_activations=np.array([of_target(on_photo, t) for t in targets], "float32"),
        change_maps=(change / peak).astype("float32"),
        distances=np.sqrt(np.mean(np.square(difference), axis=(1, 2, 3))).astype("float32"),
        photo=photo, layer=info.name, filters=list(targets), strength=float(strength), steps=int(steps))
