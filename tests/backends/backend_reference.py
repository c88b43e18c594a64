"""The runs whose images every backend must share with TensorFlow, and the writer of their
reference file. On TensorFlow (the reference backend), from the repository root:

    .venv/bin/python tests/backends/backend_reference.py    # writes tests/backends/tf_reference.npz

Rewrite it only when TensorFlow's own images change on purpose (say why in the commit).
"""
import os
import sys

from actmax_widgets import Recipe, styles, visualize_filters

# keras-vis's pixel image with its TV and Lp terms (RMSprop); Fourier: the FFT, colour
# decorrelation, random jitter/scale/rotation draws, ReLU warm-up (redirected ReLUs), Adam.
RUNS = {
    "keras_vis": dict(filters=[0, 3], steps=6, recipe=Recipe()),
    "fourier": dict(filters=[1, 6], steps=6, recipe=styles.FOURIER),
}


def reference_results(net, run):
    settings = RUNS[run]
    return visualize_filters(net, "conv2", settings["filters"], max_iter=settings["steps"], seed=7,
                             recipe=settings["recipe"])


def main():
    import keras
    import numpy as np

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    sys.path.insert(0, here)
    from conftest import backend_net

    if keras.backend.backend() != "tensorflow":
        sys.exit(f"The reference is TensorFlow's: run with KERAS_BACKEND=tensorflow (it is {keras.backend.backend()!r}).")
    net = backend_net()  # conftest.py's ``net``: the same NumPy-drawn weights on every backend
    arrays = {}
    for run in RUNS:
        result = reference_results(net, run)
        arrays[f"{run}_images"], arrays[f"{run}_history"] = result.raw_images, result.activation_history
    np.savez_compressed(os.path.join(here, "tf_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
