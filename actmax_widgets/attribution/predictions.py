"""The model's top classes for a photo, with names (the widget lists them beside the heatmaps)."""
from __future__ import annotations

import numpy as np
from keras import ops

from .. import arguments, catalogue, model_facts
from . import inputs


def top_predictions(model, image, k=5, *, input_range=(0, 255)) -> list:
    """``[(index, name, probability), ...]``, best first, for one photo (``image``: as in
    ``saliency_maps``). Names: the model's own labels when it is one of ``actmax_widgets.models``,
    ImageNet's for 1000 outputs, else ``'class i'``. An output that is not already a
    distribution (logits) goes through a softmax."""
    k = arguments.check_int("k", k, 1, fix="pass e.g. k=5")
    arguments.check(model=model)
    facts = model_facts.of(model)
    facts.check_computable()
    batch = inputs.model_images(facts.working, image, input_range=input_range, argument="image")
    if len(batch) != 1:
        raise ValueError(f"image holds {len(batch)} images: top_predictions takes one photo, e.g. image[0].")
    if catalogue.model_is_channels_first(facts.working):  # photos come channels-last, whatever the model
        batch = np.transpose(batch, (0, 3, 1, 2))
    output = facts.working(batch, training=False)
    output = output[0] if isinstance(output, (list, tuple)) else output
    scores = ops.convert_to_numpy(output).astype("float64").reshape(len(batch), -1)[0]
    if not (scores.min() >= 0 and abs(scores.sum() - 1.0) < 1e-3):
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
    names = _class_names(model, len(scores))
    best = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), names[i] if names is not None else f"class {int(i)}", float(scores[i])) for i in best]


def _class_names(model, n):
    from .. import models

    names = models.class_names_for(model)
    if names is None and n == 1000:
        names = models.imagenet_labels()
    return list(names) if names is not None and len(names) == n else None
