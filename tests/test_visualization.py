"""The entry points: visualize_filters, visualize_activation(_with_losses) on tiny models.

Most runs use ``tv_weight=0, lp_norm_weight=0``: keras-vis's default weights (10/10) dominate the
activation of a tiny untrained net, and the point here is the activation.
"""
import inspect
import threading

import keras
import numpy as np
import pytest

from actmax_widgets import utils, visualize_activation, visualize_activation_with_losses, visualize_filters
from actmax_widgets.engine import CompiledOptimizer
from actmax_widgets.input_modifiers import Jitter
from actmax_widgets.optimizer import Optimizer
from actmax_widgets.recipe import Recipe
from actmax_widgets.visualization import compiled_for
from core_helpers import SIZE, assert_batched_equals_one_at_a_time, channel_means, conv_layers, functional, noise_images

ACT_ONLY = {"tv_weight": 0, "lp_norm_weight": 0}


def _traced_step(model, layer, batch, **settings):
    """The compiled step's state for ``batch`` samples (``tracing_count()`` on every backend)."""
    compiled, _ = compiled_for(model, layer, **settings)
    return compiled._states[batch]


# --- keras-vis's signatures and defaults ----------------------------------------------------

def _defaults(function):
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_keras_vis_signatures_and_defaults():
    assert list(inspect.signature(visualize_activation).parameters)[:11] == [
        "model", "layer_idx", "filter_indices", "wrt_tensor", "seed_input", "input_range",
        "backprop_modifier", "grad_modifier", "act_max_weight", "lp_norm_weight", "tv_weight"]
    assert _defaults(visualize_activation) == {
        "filter_indices": None, "wrt_tensor": None, "seed_input": None, "input_range": (0, 255),
        "backprop_modifier": None, "grad_modifier": None, "act_max_weight": 1, "lp_norm_weight": 10,
        "tv_weight": 10, "style": None}  # style: ours, after keras-vis's arguments; None = keras-vis
    assert list(inspect.signature(visualize_activation_with_losses).parameters)[:5] == [
        "input_tensor", "losses", "wrt_tensor", "seed_input", "input_range"]
    assert _defaults(visualize_activation_with_losses)["input_range"] == (0, 255)
    assert list(inspect.signature(Optimizer).parameters)[:5] == [
        "input_tensor", "losses", "input_range", "wrt_tensor", "norm_grads"]
    assert _defaults(Optimizer) == {"input_range": (0, 255), "wrt_tensor": None, "norm_grads": True,
                                    "channels_first": None}
    minimize = _defaults(Optimizer.minimize)
    assert list(inspect.signature(Optimizer.minimize).parameters)[1:7] == [
        "seed_input", "max_iter", "input_modifiers", "grad_modifier", "callbacks", "verbose"]
    assert (minimize["max_iter"], minimize["verbose"], minimize["input_modifiers"]) == (200, True, None)
    assert _defaults(Jitter) == {"jitter": 0.05}
    vf = _defaults(visualize_filters)
    kv = Recipe()  # visualize_filters's default recipe (recipe=None): its loss weights
    assert (vf["max_iter"], kv.act_max_weight, kv.lp_norm_weight, kv.tv_weight, vf["input_range"]) == (
        200, 1, 10, 10, (0, 255))


def test_visualize_activation_runs_200_quiet_steps_by_default(conv_net, monkeypatch, capsys):
    seen = {}

    def run(self, keys, *args, max_iter=200, **kwargs):
        seen["max_iter"] = max_iter
        seen["weights"] = self.problem.default_weights.tolist()
        seen["names"] = self.problem.names
        raise StopIteration

    monkeypatch.setattr(CompiledOptimizer, "run", run)
    with pytest.raises(StopIteration):
        visualize_activation(conv_net, "conv2", 0)
    assert seen == {"max_iter": 200, "weights": [1.0, 10.0, 10.0],
                    "names": ["ActivationMax Loss", "L-6.0 Norm Loss", "TV(2.0) Loss"]}
    assert capsys.readouterr().out == ""  # verbose=False here, as keras-vis's visualize_activation


def test_visualize_activation_takes_a_style(conv_net, monkeypatch):
    seen = {}
    run = CompiledOptimizer.run

    def spy(self, *args, **kwargs):
        seen.update(names=self.problem.names, settings=self.optimizer_settings,
                    param=type(self.parameterization).__name__, warmup=kwargs.get("warmup_steps"),
                    transforms=len(self.graph_transforms))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(CompiledOptimizer, "run", spy)
    steps = []
    image = visualize_activation(conv_net, "conv2", 3, style="fourier", max_iter=30, seed=0,
                                 callbacks=[type("Count", (), {"callback": lambda self, *a: steps.append(a[0]),
                                                               "on_end": lambda self: None})()])
    # The style's recipe: Fourier image, Adam, transforms, warm-up, no TV / Lp penalties.
    assert seen["param"] == "FourierImage" and seen["settings"]["optimizer"] == "adam"
    assert seen["names"] == ["ActivationMax Loss"] and seen["warmup"] == 16 and seen["transforms"] == 1
    assert steps == list(range(30))  # keras-vis's callbacks still see every step
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    means = channel_means(conv_net, "conv2", image[None])[0]
    grey = channel_means(conv_net, "conv2", np.full((1, SIZE, SIZE, 3), 127.5))[0]
    assert means.argmax() == 3 and means[3] > grey[3] + 1.0
    # A weight passed explicitly wins over the style's.
    visualize_activation(conv_net, "conv2", 3, style="fourier", max_iter=2, tv_weight=5)
    assert seen["names"] == ["ActivationMax Loss", "TV(2.0) Loss"]
    with pytest.raises(ValueError, match="Unknown style"):
        visualize_activation(conv_net, "conv2", 3, style="pretty")
    with pytest.raises(ValueError, match="relu_warmup"):
        visualize_activation(conv_net, "conv2", 3, backprop_modifier="guided", relu_warmup=4)


# --- the optimization does what it says -----------------------------------------------------

def test_target_activation_rises_far_above_noise_and_result_is_the_best_image(conv_net):
    result = visualize_filters(conv_net, "conv2", max_iter=30, seed=0, **ACT_ONLY)
    assert result.images.shape == (8, SIZE, SIZE, 3) and result.images.dtype == np.uint8
    assert result.raw_images.shape == (8, SIZE, SIZE, 3)
    reached = channel_means(conv_net, "conv2", result.raw_images)[np.arange(8), np.arange(8)]
    on_noise = channel_means(conv_net, "conv2", noise_images((SIZE, SIZE, 3), 8))[np.arange(8), np.arange(8)]
    assert np.all(reached > 3 * on_noise), (reached, on_noise)
    # The returned image is the best one seen (keras-vis keeps the best, not the last).
    np.testing.assert_allclose(reached, result.activation_history.max(axis=0), rtol=1e-4)
    assert result.steps == 30 and not result.stopped and not result.dead.any()
    assert result.targets == list(range(8)) and result.labels == [str(i) for i in range(8)]


def test_target_filter_beats_the_other_filters_on_its_own_image(conv_net):
    result = visualize_filters(conv_net, "conv2", max_iter=30, seed=0, **ACT_ONLY)
    means = channel_means(conv_net, "conv2", result.raw_images)  # (image, filter)
    assert means.argmax(axis=1).tolist() == list(range(8))
    runner_up = np.sort(means, axis=1)[:, -2]
    assert np.all(means[np.arange(8), np.arange(8)] > 1.3 * runner_up)


def test_negate_lowers_a_regression_output_and_keeps_the_lowest_image(regression_net):
    result = visualize_filters(regression_net, "regression", [0], max_iter=30, seed=0,
                               grad_modifier="negate", **ACT_ONLY)
    reached = float(regression_net(result.raw_images)[0, 0])
    start = float(regression_net(noise_images((SIZE, SIZE, 3)))[0, 0])
    raised = visualize_filters(regression_net, "regression", [0], max_iter=30, seed=0, **ACT_ONLY)
    history = result.activation_history[:, 0]
    assert reached < start - 0.5 * abs(raised.activation_history[-1, 0] - start)
    assert history[-1] < history[0]
    np.testing.assert_allclose(reached, history.min(), rtol=1e-4, atol=1e-4)


def test_negate_with_visualize_activation_lowers_the_output(regression_net):
    seed_input = noise_images((SIZE, SIZE, 3))[0]
    lowered = visualize_activation(regression_net, "regression", 0, seed_input=seed_input, max_iter=30,
                                   grad_modifier="negate", **ACT_ONLY)
    raised = visualize_activation(regression_net, "regression", 0, seed_input=seed_input, max_iter=30,
                                  **ACT_ONLY)
    # Deprocessed images (contrast-normalized) still rank the same way.
    low = float(regression_net(lowered[None].astype("float32"))[0, 0])
    high = float(regression_net(raised[None].astype("float32"))[0, 0])
    assert low < high


def test_conv1d_and_dense_targets(conv1d_net, conv_net):
    result = visualize_filters(conv1d_net, "conv1d_2", max_iter=20, seed=0, **ACT_ONLY)
    assert result.images.shape == (6, 32, 2)
    assert np.all(result.activation_history[-1] > 2 * result.activation_history[0])
    image = visualize_activation(conv1d_net, "out", 1, max_iter=20, seed=0, **ACT_ONLY)
    assert image.shape == (32, 2) and image.dtype == np.uint8

    dense = visualize_filters(conv_net, "predictions", max_iter=20, seed=0, **ACT_ONLY)
    probabilities = keras.ops.convert_to_numpy(conv_net(dense.raw_images))
    assert probabilities.argmax(axis=1).tolist() == [0, 1, 2, 3]


def test_a_joint_target_is_one_image_that_raises_both(conv_net):
    result = visualize_filters(conv_net, "conv2", [[1, 5]], max_iter=30, seed=0, **ACT_ONLY)
    assert len(result.images) == 1 and result.labels == ["1+5"]
    means = channel_means(conv_net, "conv2", result.raw_images)[0]
    on_noise = channel_means(conv_net, "conv2", noise_images((SIZE, SIZE, 3)))[0]
    assert means[1] > 2 * on_noise[1] and means[5] > 2 * on_noise[5]


# --- batching, compilation, determinism -----------------------------------------------------

@pytest.mark.parametrize("modifiers", [None, [Jitter(0.2)]], ids=["plain", "jitter"])
def test_batched_equals_one_at_a_time(conv_net, modifiers):
    settings = dict(max_iter=20, seed=3, input_modifiers=modifiers, tv_weight=1, lp_norm_weight=1)
    assert_batched_equals_one_at_a_time(visualize_filters, conv_net, "conv2", [0, 2, 5], **settings)


def test_jitter_changes_the_result(conv_net):
    plain = visualize_filters(conv_net, "conv2", [0], max_iter=10, seed=3)
    jittered = visualize_filters(conv_net, "conv2", [0], max_iter=10, seed=3, input_modifiers=[Jitter(0.2)])
    assert np.abs(plain.raw_images - jittered.raw_images).max() > 1.0


def test_other_filters_and_weights_with_the_same_count_do_not_retrace(conv_net):
    visualize_filters(conv_net, "conv2", [0, 1, 2], max_iter=3, seed=0)
    step = _traced_step(conv_net, "conv2", 3)
    assert step.tracing_count() == 1
    visualize_filters(conv_net, "conv2", [5, 6, 7], max_iter=3, seed=1)
    visualize_filters(conv_net, "conv2", [[1, 2], 4, 0], max_iter=3, seed=2, tv_weight=0, lp_norm_weight=3)
    assert _traced_step(conv_net, "conv2", 3) is step
    assert step.tracing_count() == 1


def test_two_lambda_grad_modifiers_do_not_share_a_compiled_step(conv_net):
    """A function's settings are its code: two lambdas are two steps (a zero gradient leaves the seed)."""
    recipe = Recipe(tv_weight=0, lp_norm_weight=0)
    moved = visualize_filters(conv_net, "conv2", [0], max_iter=3, seed=0,
                              recipe=recipe.replace(grad_modifier=lambda g: g))
    frozen = visualize_filters(conv_net, "conv2", [0], max_iter=3, seed=0,
                               recipe=recipe.replace(grad_modifier=lambda g: g * 0))
    assert not np.array_equal(moved.images, frozen.images)


def test_an_equal_fresh_schedule_reuses_the_compiled_step(conv_net):
    def fourier():
        schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=10, decay_rate=0.5)
        return Recipe(param="fourier", optimizer={"optimizer": "adam", "learning_rate": schedule})

    needs_compile = []
    for _ in range(2):
        visualize_filters(conv_net, "conv2", [0], max_iter=2, seed=0, recipe=fourier(),
                          on_start=lambda info, needs: needs_compile.append(needs))
    assert needs_compile == [True, False]


def test_keras_vis_optimizer_reuses_its_step_for_an_equal_fresh_schedule(conv_net):
    from actmax_widgets.losses import ActivationMaximization

    optimizer = Optimizer(conv_net.input, [(ActivationMaximization(conv_net.get_layer("conv2"), [0]), 1)])
    for _ in range(2):
        schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=10, decay_rate=0.5)
        optimizer.minimize(max_iter=1, seed=0, verbose=False,
                           optimizer_settings={"optimizer": "adam", "learning_rate": schedule})
    assert len(optimizer._compiled) == 1


def test_concurrent_runs_of_one_compiled_step_do_not_mix(conv_net):
    """Two threads (say two widgets on one model) using the same traced step and variables."""
    alone = [visualize_filters(conv_net, "conv2", filters, max_iter=15, seed=seed, **ACT_ONLY)
             for filters, seed in (([0, 1], 1), ([2, 3], 2))]
    together = [None, None]

    def run(k, filters, seed):
        together[k] = visualize_filters(conv_net, "conv2", filters, max_iter=15, seed=seed, **ACT_ONLY)

    threads = [threading.Thread(target=run, args=(k, f, s)) for k, (f, s) in enumerate((([0, 1], 1), ([2, 3], 2)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for mine, reference in zip(together, alone):
        np.testing.assert_array_equal(mine.images, reference.images)


def test_many_filters_run_in_chunks_of_at_most_batch_size(conv_net):
    chunked = visualize_filters(conv_net, "conv2", max_iter=10, seed=4, batch_size=3)
    compiled, _ = compiled_for(conv_net, "conv2")
    assert sorted(compiled._states) == [3]  # 8 filters -> 3 chunks of 3 (the last one padded)
    assert compiled._states[3].tracing_count() == 1
    assert chunked.images.shape == (8, SIZE, SIZE, 3) and chunked.targets == list(range(8))
    whole = visualize_filters(conv_net, "conv2", max_iter=10, seed=4)
    np.testing.assert_allclose(chunked.raw_images, whole.raw_images, rtol=1e-4, atol=1e-3)
    assert chunked.loss_history.shape == (10, 8) and np.isfinite(chunked.loss_history).all()


def test_same_seed_same_images_different_seed_different(conv_net):
    first = visualize_filters(conv_net, "conv2", [1, 3], max_iter=8, seed=11)
    again = visualize_filters(conv_net, "conv2", [1, 3], max_iter=8, seed=11)
    other = visualize_filters(conv_net, "conv2", [1, 3], max_iter=8, seed=12)
    np.testing.assert_array_equal(first.images, again.images)
    assert first.seed == 11
    assert np.abs(first.raw_images - other.raw_images).mean() > 1.0
    one = visualize_activation(conv_net, "conv2", 1, max_iter=5, seed=5)
    np.testing.assert_array_equal(one, visualize_activation(conv_net, "conv2", 1, max_iter=5, seed=5))
    assert not np.array_equal(one, visualize_activation(conv_net, "conv2", 1, max_iter=5, seed=6))


def test_global_numpy_seed_reproduces_unseeded_runs(conv_net):
    """keras-vis drew its start images from np.random: seeding it globally reproduces a run."""
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(21)
        runs.append((visualize_activation(conv_net, "conv2", 1, max_iter=4),
                     visualize_filters(conv_net, "conv2", [1], max_iter=4).images[0]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(visualize_activation(conv_net, "conv2", 1, max_iter=4), runs[0][0])


def test_unseeded_runs_report_the_seed_that_reproduces_them(conv_net):
    result = visualize_filters(conv_net, "conv2", [2], max_iter=5)
    again = visualize_filters(conv_net, "conv2", [2], max_iter=5, seed=result.seed)
    np.testing.assert_array_equal(result.images, again.images)


# --- model kinds ----------------------------------------------------------------------------

def test_channels_first_equals_channels_last_on_equal_weights(conv_net, channels_first_net):
    settings = dict(max_iter=15, seed=2, input_modifiers=[Jitter(0.1)])
    last = visualize_filters(conv_net, "conv2", [0, 4], **settings)
    first = visualize_filters(channels_first_net, "conv2", [0, 4], **settings)
    assert first.images.shape == (2, SIZE, SIZE, 3)  # results are channels-last
    np.testing.assert_allclose(first.raw_images, last.raw_images, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(first.activation_history, last.activation_history, rtol=1e-4, atol=1e-4)

    seed_last = noise_images((SIZE, SIZE, 3), seed=9)[0]
    seed_first = np.moveaxis(seed_last, -1, 0)
    a = visualize_activation(conv_net, "conv2", 3, seed_input=seed_last, max_iter=10)
    b = visualize_activation(channels_first_net, "conv2", 3, seed_input=seed_first, max_iter=10)
    assert b.shape == (SIZE, SIZE, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_sequential_model_gives_the_same_images_as_functional(conv_net, sequential_conv_net):
    functional_result = visualize_filters(conv_net, "conv2", [1, 6], max_iter=10, seed=0)
    sequential_result = visualize_filters(sequential_conv_net, "conv2", [1, 6], max_iter=10, seed=0)
    np.testing.assert_allclose(sequential_result.raw_images, functional_result.raw_images, rtol=1e-5, atol=1e-4)
    # keras-vis style: layer_idx indexes model.layers (no InputLayer in a Sequential's list).
    idx = utils.find_layer_idx(sequential_conv_net, "conv2")
    image = visualize_activation(sequential_conv_net, idx, 1, max_iter=5, seed=0)
    np.testing.assert_array_equal(image, visualize_activation(conv_net, "conv2", 1, max_iter=5, seed=0))


@pytest.mark.parametrize("model_name", ["conv_net", "sequential_conv_net"])
def test_linear_swap_raises_the_logit_more_than_softmax(model_name, request):
    model = request.getfixturevalue(model_name)
    idx = utils.find_layer_idx(model, "predictions")
    softmax_run = visualize_filters(model, idx, max_iter=30, seed=0, **ACT_ONLY)

    model.layers[idx].activation = keras.activations.linear
    model = utils.apply_modifications(model)
    assert type(model).__name__ == {"conv_net": "Functional", "sequential_conv_net": "Sequential"}[model_name]
    linear_run = visualize_filters(model, idx, max_iter=30, seed=0, **ACT_ONLY)

    logits_of = keras.Model(utils.model_input(model), model.layers[idx].output)  # linear now
    softmax_logits = np.diag(keras.ops.convert_to_numpy(logits_of(softmax_run.raw_images)))
    linear_logits = np.diag(keras.ops.convert_to_numpy(logits_of(linear_run.raw_images)))
    assert np.all(linear_logits > 1.2 * softmax_logits), (linear_logits, softmax_logits)
    # The activation the linear run reports is the logit itself.
    np.testing.assert_allclose(linear_run.activation_history.max(axis=0), linear_logits, rtol=1e-4)
    # visualize_activation sees the swap too.
    image = visualize_activation(model, idx, 0, max_iter=20, seed=0, **ACT_ONLY)
    assert image.shape == (SIZE, SIZE, 3)


def test_none_dims_use_image_size_default_128(any_size_net):
    default = visualize_filters(any_size_net, "conv2", [0], max_iter=2, seed=0)
    assert default.images.shape == (1, 128, 128, 3)
    small = visualize_filters(any_size_net, "conv2", [0, 1], max_iter=15, seed=0, image_size=24, **ACT_ONLY)
    assert small.images.shape == (2, 24, 24, 3)
    assert np.all(small.activation_history[-1] > 2 * small.activation_history[0])
    rect = visualize_filters(any_size_net, "conv2", [0], max_iter=2, seed=0, image_size=(20, 28))
    assert rect.images.shape == (1, 20, 28, 3)
    # keras-vis's visualize_activation: the seed's size, else image_size, else 128.
    assert visualize_activation(any_size_net, "conv2", 0, max_iter=2, seed=0).shape == (128, 128, 3)
    assert visualize_activation(any_size_net, "conv2", 0, max_iter=2, image_size=(24, 20)).shape == (24, 20, 3)
    seed_input = noise_images((18, 22, 3))[0]
    assert visualize_activation(any_size_net, "conv2", 0, max_iter=2, seed_input=seed_input).shape == (18, 22, 3)


def test_fixed_size_model_visualized_at_another_size_keeps_its_weights(conv_net):
    result = visualize_filters(conv_net, "conv2", [0, 3], max_iter=20, seed=0, image_size=24, **ACT_ONLY)
    assert result.images.shape == (2, 24, 24, 3)
    # The same layers at any size, with the fixed-size model's weights: the activation the run
    # reports must be the one these layers give on the returned images.
    any_size = functional((None, None, 3), conv_layers(), "any_size_copy")
    any_size.set_weights(conv_net.get_weights())
    means = channel_means(any_size, "conv2", result.raw_images)
    np.testing.assert_allclose(means[[0, 1], [0, 3]], result.activation_history.max(axis=0), rtol=1e-4)
    assert np.all(result.activation_history[-1] > 2 * result.activation_history[0])
    assert conv_net.inputs[0].shape[1:3] == (SIZE, SIZE)  # the model itself is unchanged


# --- results of interrupted and degenerate runs ---------------------------------------------

def test_dead_filter_is_flagged_without_nan(conv_net):
    kernel, bias = conv_net.get_layer("conv2").get_weights()
    bias[3] = -1000.0  # ReLU(conv - 1000) = 0 everywhere: no gradient ever
    conv_net.get_layer("conv2").set_weights([kernel, bias])
    result = visualize_filters(conv_net, "conv2", [2, 3, 4], max_iter=10, seed=0)
    assert result.dead.tolist() == [False, True, False]
    for array in (result.raw_images, result.loss_history, result.activation_history):
        assert np.isfinite(array).all()
    assert np.all(result.activation_history[:, 1] == 0)


def test_stop_event_set_from_another_thread_returns_what_was_reached(conv_net):
    stop = threading.Event()
    running = threading.Event()

    def on_snapshot(snapshot):
        if snapshot.step >= 5:
            running.set()

    stopper = threading.Thread(target=lambda: running.wait(30) and stop.set())
    stopper.start()
    result = visualize_filters(conv_net, "conv2", [0, 1, 2, 3], max_iter=5000, seed=0, batch_size=2,
                               snapshot_every=1, on_snapshot=on_snapshot, stop_event=stop, **ACT_ONLY)
    stopper.join()
    assert result.stopped and 5 <= result.steps < 5000
    # Stopped inside the first chunk: its two images and their histories, nothing invented.
    assert result.targets == [0, 1] and result.images.shape == (2, SIZE, SIZE, 3)
    assert result.activation_history.shape == (result.steps, 2)
    assert np.isfinite(result.activation_history).all()
    reached = channel_means(conv_net, "conv2", result.raw_images)[[0, 1], [0, 1]]
    np.testing.assert_allclose(reached, result.activation_history.max(axis=0), rtol=1e-4)


def test_on_snapshot_returning_false_stops_after_that_step(conv_net):
    seen = []

    def on_snapshot(snapshot):
        seen.append(snapshot.step)
        assert len(snapshot.images) == 3 and snapshot.images[0].shape == (SIZE, SIZE, 3)
        return snapshot.step < 6

    result = visualize_filters(conv_net, "conv2", [0, 1, 2], max_iter=30, seed=0, snapshot_every=3,
                               on_snapshot=on_snapshot, **ACT_ONLY)
    assert seen == [1, 3, 6]  # after the first step, then every 3
    assert result.stopped and result.steps == 6
    assert result.images.shape == (3, SIZE, SIZE, 3)
    assert result.loss_history.shape == (6, 3)
    assert np.all(result.activation_history[-1] > result.activation_history[0])


def test_snapshots_report_progress_and_the_best_images_so_far(conv_net):
    snapshots = []
    result = visualize_filters(conv_net, "conv2", [0, 1], max_iter=9, seed=0, snapshot_every=3,
                               on_snapshot=snapshots.append)
    assert [s.step for s in snapshots] == [1, 3, 6, 9]
    assert snapshots[-1].progress == 1.0 and snapshots[0].total_steps == 9
    np.testing.assert_array_equal(np.stack(snapshots[-1].images), result.images)


# --- bad input: a clear error before any computation ----------------------------------------

@pytest.fixture
def no_computation(monkeypatch):
    """Fail the test if an optimization loop starts."""
    def run(*args, **kwargs):
        raise AssertionError("the optimization started before the input was checked")

    monkeypatch.setattr(CompiledOptimizer, "run", run)


def _both_entry_points(model, layer, filters=0, **kwargs):
    """Call visualize_filters and visualize_activation; return the two exceptions."""
    errors = []
    for call in (lambda: visualize_filters(model, layer, [filters] if isinstance(filters, int) else filters,
                                           max_iter=10**6, **kwargs),
                 lambda: visualize_activation(model, layer, filters, max_iter=10**6, **kwargs)):
        with pytest.raises(Exception) as info:
            call()
        errors.append(info.value)
    return errors


def test_missing_layer_name(conv_net, no_computation):
    for error in _both_entry_points(conv_net, "conv_3"):
        assert isinstance(error, ValueError)
        assert "'conv_3'" in str(error) and "conv2" in str(error)


def test_filter_index_out_of_range_names_index_and_valid_range(conv_net, no_computation):
    for error in _both_entry_points(conv_net, "conv2", 8):
        assert isinstance(error, ValueError)
        assert "8" in str(error) and "0..7" in str(error) and "conv2" in str(error)
    for error in _both_entry_points(conv_net, "predictions", [1, 4]):
        assert "Unit index 4" in str(error) and "0..3" in str(error)
    with pytest.raises(ValueError, match="-1 is out of range"):
        visualize_filters(conv_net, "conv2", [-1])
    with pytest.raises(ValueError, match="layer_idx 9 is out of range.*0..4"):
        visualize_activation(conv_net, 9, 0)


def test_layers_whose_output_cannot_be_visualized(no_computation):
    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    flat = keras.layers.Flatten(name="flat")(conv)
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(flat))
    for error in _both_entry_points(model, "flat"):
        assert isinstance(error, ValueError) and "'flat' (Flatten)" in str(error)
    for error in _both_entry_points(model, 0):
        assert "InputLayer" in str(error)

    class TwoOutputs(keras.layers.Layer):
        def call(self, x):
            return x, -x

    positive, negative = TwoOutputs(name="split")(conv)
    two = keras.Model(inputs, [positive, negative])
    for error in _both_entry_points(two, "split"):
        assert isinstance(error, ValueError) and "'split'" in str(error) and "several outputs" in str(error)


def test_fixed_size_model_that_cannot_be_resized(no_computation):
    inputs = keras.Input((SIZE, SIZE, 3))
    flat = keras.layers.Flatten(name="flatten")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(flat), name="fixed")
    with pytest.raises(ValueError) as info:
        visualize_filters(model, "dense", [0], image_size=24, max_iter=10**6)
    message = str(info.value)
    # The size asked, the layer, the size that works, the layer that fixes it, and the fix.
    assert "image_size=(24, 24)" in message and "'dense'" in message and "16×16 px only" in message
    assert "'flatten'" in message and "Use image_size=16" in message


def test_seed_input_of_the_wrong_size(conv_net, no_computation):
    with pytest.raises(ValueError, match=r"seed_input has shape \(20, 20, 3\).*\(16, 16, 3\)"):
        visualize_activation(conv_net, "conv2", 0, seed_input=np.zeros((20, 20, 3)), max_iter=10**6)
    with pytest.raises(ValueError, match=r"seed_input has image shape \(20, 20, 3\)"):
        visualize_filters(conv_net, "conv2", [0], seed_input=np.zeros((20, 20, 3)), max_iter=10**6)


def test_tabular_input_with_total_variation(no_computation):
    inputs = keras.Input((10,))
    model = keras.Model(inputs, keras.layers.Dense(4, name="out")(keras.layers.Dense(8, name="h")(inputs)),
                        name="tabular")
    for error in _both_entry_points(model, "out"):
        assert isinstance(error, ValueError)
        assert "TotalVariation" in str(error) and "tv_weight=0" in str(error)


def test_tabular_input_without_total_variation_works():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10,))
    model = keras.Model(inputs, keras.layers.Dense(4, name="out")(inputs))
    result = visualize_filters(model, "out", [0, 2], max_iter=10, seed=0, tv_weight=0)
    assert result.images.shape == (2, 10)
    assert np.all(result.activation_history[-1] > result.activation_history[0])
    assert visualize_activation(model, "out", 1, max_iter=5, tv_weight=0).shape == (10,)


def test_subclassed_model_says_to_rebuild_it_functionally(no_computation):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.conv = keras.layers.Conv2D(4, 3, name="conv")

        def call(self, x):
            return self.conv(x)

    model = Net()
    model(np.zeros((1, SIZE, SIZE, 3), "float32"))
    for error in _both_entry_points(model, 0):
        assert isinstance(error, TypeError)
        assert "subclassed" in str(error) and "keras.Model(inputs, outputs)" in str(error)


def test_multi_input_model(no_computation):
    image = keras.Input((SIZE, SIZE, 3))
    extra = keras.Input((2,))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(image))
    model = keras.Model([image, extra], keras.layers.Concatenate()([pooled, extra]), name="two_inputs")
    for error in _both_entry_points(model, "conv"):
        assert isinstance(error, ValueError) and "2 inputs" in str(error) and "single-input" in str(error)


def test_empty_filter_list_and_bad_modifier_names(conv_net, no_computation):
    with pytest.raises(ValueError, match="empty"):
        visualize_filters(conv_net, "conv2", [])
    with pytest.raises(ValueError, match="Unknown grad_modifier"):
        visualize_filters(conv_net, "conv2", [0], grad_modifier="flip")
    with pytest.raises(ValueError, match="Unknown backprop_modifier"):
        visualize_activation(conv_net, "conv2", 0, backprop_modifier="guidance")
