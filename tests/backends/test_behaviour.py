"""What a user relies on, on every Keras 3 backend (issue #17): run once per backend, each in its
own process (``make test-backends``: KERAS_BACKEND=jax, torch; TensorFlow runs this file in the
main pass). Tiny nets (16 px), few steps: the three runs together stay within about 3 minutes."""
import io
import os
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
from PIL import Image

from actmax_widgets import ActMaxWidget, Recipe, sample_random, visualize_filters
from actmax_widgets.callbacks import OptimizerCallback
from actmax_widgets.input_modifiers import Jitter
from core_helpers import SIZE, assert_batched_equals_one_at_a_time, channel_means

from backend_reference import RUNS, reference_results

BACKEND = keras.backend.backend()
ACT_ONLY = Recipe(tv_weight=0, lp_norm_weight=0)  # keras-vis's 10/10 weights swamp a tiny net


def test_activation_rises_and_the_image_kept_is_the_best_seen(net):
    result = visualize_filters(net, "conv2", max_iter=12, seed=0, recipe=ACT_ONLY)
    history = result.activation_history
    assert history.shape == (12, 8) and np.all(history[-1] > 1.5 * history[0]), history[[0, -1]]
    reached = channel_means(net, "conv2", result.raw_images)[np.arange(8), np.arange(8)]
    np.testing.assert_allclose(reached, history.max(axis=0), rtol=1e-4)


def test_a_transfer_learning_model_around_a_base_named_with_a_dot(net):
    """A Sequential around a pretrained-style base whose name has a dot (keras.applications'
    'mobilenetv2_1.00_224'): a layer inside the base and the new head both run, and rise."""
    base = keras.Model(net.input, net.get_layer("conv2").output, name="base_1.00_16")
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, name="head")], name="transfer")
    model.get_layer("head").set_weights([np.eye(8, 2, dtype="float32"), np.zeros(2, "float32")])
    for layer in ("base_1.00_16/conv2", "head"):
        history = visualize_filters(model, layer, [0, 1], max_iter=8, seed=0, recipe=ACT_ONLY).activation_history
        assert np.all(history[-1] > history[0]), (layer, history[[0, -1]])


def test_negate_lowers_the_output_and_keeps_the_lowest_image(regression):
    result = visualize_filters(regression, "regression", [0], max_iter=12, seed=0,
                               recipe=ACT_ONLY.replace(grad_modifier="negate"))
    history = result.activation_history[:, 0]
    assert history[-1] < history[0] - 0.1 * abs(history[0]), history
    reached = float(keras.ops.convert_to_numpy(regression(result.raw_images))[0, 0])
    np.testing.assert_allclose(reached, history.min(), rtol=1e-4, atol=1e-4)


def test_batched_equals_one_at_a_time(net):
    """Each sample draws its own jitter: a filter's image does not depend on its batch mates."""
    settings = dict(max_iter=6, seed=3, recipe=Recipe(transforms=(Jitter(0.2),), tv_weight=1, lp_norm_weight=1))
    assert_batched_equals_one_at_a_time(visualize_filters, net, "conv2", [0, 2, 5], **settings)


class _FirstGradients(OptimizerCallback):
    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        if i == 0:
            self.grads = keras.ops.convert_to_numpy(grads)


def test_guided_backprop_changes_the_gradients_and_still_raises_the_activation(net):
    """Same seed, same first image: only the ReLUs' backward rule differs."""
    plain, guided = _FirstGradients(), _FirstGradients()
    visualize_filters(net, "conv2", [0, 1], max_iter=3, seed=0, recipe=ACT_ONLY, callbacks=[plain])
    result = visualize_filters(net, "conv2", [0, 1], max_iter=10, seed=0, callbacks=[guided],
                               recipe=ACT_ONLY.with_backprop_modifier("guided"))
    assert plain.grads.shape == guided.grads.shape == (2, SIZE, SIZE, 3)
    assert np.abs(plain.grads).max() > 0 and np.abs(guided.grads).max() > 0
    difference = np.abs(plain.grads - guided.grads).max() / np.abs(plain.grads).max()
    assert difference > 0.05, f"guided gradients equal the plain ones (max relative difference {difference})"
    assert np.all(result.activation_history[-1] > 1.5 * result.activation_history[0])


def test_channels_first_equals_channels_last_on_equal_weights(net, channels_first_net):
    settings = dict(max_iter=6, seed=2, recipe=Recipe(transforms=(Jitter(0.1),)))
    last = visualize_filters(net, "conv2", [0, 4], **settings)
    first = visualize_filters(channels_first_net, "conv2", [0, 4], **settings)
    assert first.images.shape == (2, SIZE, SIZE, 3)  # results are channels-last
    np.testing.assert_allclose(first.raw_images, last.raw_images, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(first.activation_history, last.activation_history, rtol=1e-4, atol=1e-4)


def test_other_filters_weights_and_seeds_reuse_the_compiled_step(net, monkeypatch):
    """The step's Python body runs when it is traced (tf.function, jax.jit) and never again for
    other filters, loss weights or seeds of the same batch size; a backend that runs the step
    eagerly runs it exactly once per step, never more."""
    entered = []
    original = sample_random.SampleRandom.__init__

    def counting(self, *args, **kwargs):
        entered.append(1)  # the step draws its randomness first thing
        original(self, *args, **kwargs)

    monkeypatch.setattr(sample_random.SampleRandom, "__init__", counting)
    needs_compile, counts, steps = [], [], 4
    runs = [([0, 1, 2], 0, ACT_ONLY), ([5, 6, 7], 1, ACT_ONLY), ([[1, 2], 4, 0], 2, Recipe(lp_norm_weight=3))]
    for filters, seed, recipe in runs:
        entered.clear()
        visualize_filters(net, "conv1", filters, max_iter=steps, seed=seed, recipe=recipe,
                          on_start=lambda info, needs: needs_compile.append(needs))
        counts.append(len(entered))
    assert needs_compile == [True, False, False]
    compiled = counts[0] < steps
    assert counts[1:] == ([0, 0] if compiled else [steps, steps]), (BACKEND, counts)


def test_stop_keeps_what_was_reached(net):
    stop = threading.Event()

    def on_snapshot(snapshot):
        if snapshot.step >= 4:
            stop.set()  # as the widget's Stop does, from another thread

    result = visualize_filters(net, "conv2", [0, 1, 2, 3], max_iter=1000, seed=0, batch_size=2, recipe=ACT_ONLY,
                               snapshot_every=1, on_snapshot=on_snapshot, stop_event=stop)
    assert result.stopped and 4 <= result.steps <= 5, result.steps
    # Stopped in the first chunk: its two images and their histories, nothing invented.
    assert result.targets == [0, 1] and result.images.shape == (2, SIZE, SIZE, 3)
    assert result.activation_history.shape == (result.steps, 2)
    reached = channel_means(net, "conv2", result.raw_images)[[0, 1], [0, 1]]
    np.testing.assert_allclose(reached, result.activation_history.max(axis=0), rtol=1e-4)


@pytest.mark.parametrize("run", list(RUNS))
def test_the_same_seed_gives_tensorflow_s_images(net, run):
    """tests/backends/tf_reference.npz holds what TensorFlow made (backend_reference.py writes it): the
    random draws (jitter, Fourier phases) are the same integer hash on every backend, so only
    float noise may differ. A second run on this backend is equal to the last bit."""
    result = reference_results(net, run)
    expected = np.load(os.path.join(os.path.dirname(__file__), "tf_reference.npz"))
    np.testing.assert_allclose(result.activation_history, expected[f"{run}_history"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(result.raw_images, expected[f"{run}_images"], rtol=1e-3, atol=0.5)
    assert reference_results(net, run).images.tobytes() == result.images.tobytes()


def test_the_widget_runs_a_job_headless(net):
    widget = ActMaxWidget(net, layer="conv2", filters=[0, 3], prepare=False, precision="float32")
    try:
        widget.controls.steps.value = 8
        widget.controls.image_size.value = SIZE
        widget.controls.tv_enabled.value = False  # an untrained net's activations are tiny next to TV
        widget.run(blocking=True)
        grid = widget.grid
        assert grid.state == "done" and len(grid.tiles) == 2, grid.status
        for png in grid.tiles:
            assert np.asarray(Image.open(io.BytesIO(png))).std() > 1  # a picture, not a blank
        history = np.frombuffer(grid.history, "<f4").reshape(grid.history_steps, 2)
        assert grid.history_steps == 8 and np.all(history[-1] > history[0])
    finally:
        widget.close()


def test_importing_the_package_imports_no_other_backend_s_framework():
    """With KERAS_BACKEND=jax or torch, TensorFlow is never imported (a JAX/PyTorch user may not
    have it); with TensorFlow, PyTorch is not (the embedded model is read without it)."""
    absent = ["torch"] if BACKEND == "tensorflow" else ["tensorflow"]
    code = ("import sys, actmax_widgets\nfrom actmax_widgets import visualize_filters, ActMaxWidget\n"
            f"print(sorted(m for m in {absent!r} if m in sys.modules))")
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", f"KERAS_BACKEND={BACKEND} imported {done.stdout}"
