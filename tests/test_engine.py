"""The compiled loop: keras-vis's update rule, best-image bookkeeping, stopping, errors."""
import keras
import numpy as np
import pytest
from keras import ops

from actmax_widgets import parameterizations
from actmax_widgets.engine import CompiledOptimizer, Problem
from actmax_widgets.losses import Loss
from actmax_widgets.sample_random import sample_keys


class Quadratic(Loss):
    """Σ w·(x - target)² per sample: a bowl the optimizer overshoots (RMSprop steps are ~4.5)."""

    name = "Quadratic"

    def __init__(self, image, target=100.0):
        self.image, self.target = image, target

    def build_loss(self):
        weights = np.linspace(0.5, 2.0, int(np.prod(self.image.shape[1:]))).reshape(self.image.shape[1:])
        return ops.sum(ops.square(self.image - self.target) * weights.astype("float32"), axis=(1, 2, 3))


def _quadratic_problem(shape=(4, 5, 1)):
    image = keras.Input(shape)
    return Problem(image, [(Quadratic(image), 1.0)]), image


def _seeds(batch, shape, seed=0):
    return np.random.default_rng(seed).uniform(80, 120, (batch,) + shape).astype("float32")


def _keras_vis_steps(x, n_steps, target=100.0):
    """keras-vis's Optimizer.minimize in numpy: L2-normalized gradient, its RMSprop, x += step."""
    weights = np.linspace(0.5, 2.0, x[0].size).reshape(x.shape[1:])
    cache = np.zeros_like(x, dtype="float64")
    x = x.astype("float64")
    for _ in range(n_steps):
        grads = 2 * weights * (x - target)
        grads /= np.sqrt((grads ** 2).sum(axis=(1, 2, 3), keepdims=True))  # per image, as one image
        cache = 0.95 * cache + 0.05 * grads ** 2
        x = x - grads / np.sqrt(cache + 1e-7)
    return x


def test_update_is_keras_vis_rmsprop_on_l2_normalized_gradients():
    problem, _ = _quadratic_problem()
    compiled = CompiledOptimizer(problem, parameterizations.get("pixel"))
    seeds = _seeds(2, (4, 5, 1))
    grad_norms = []
    record = compiled.run(sample_keys(0, [0, 1]), max_iter=6, seed_images=seeds,
                          on_step=lambda s: grad_norms.append(np.sqrt((ops.convert_to_numpy(s.grads) ** 2).sum(axis=(1, 2, 3)))))
    np.testing.assert_allclose(record.best_params, _keras_vis_steps(seeds, 6), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.array(grad_norms), 1.0, rtol=1e-5)
    # A second run restarts from scratch (fresh RMSprop state), so it gives the same result.
    again = compiled.run(sample_keys(0, [0, 1]), max_iter=6, seed_images=seeds)
    np.testing.assert_allclose(again.best_params, record.best_params, rtol=1e-6)


def test_grad_modifier_applies_to_the_normalized_gradient():
    problem, _ = _quadratic_problem()
    seen = []
    compiled = CompiledOptimizer(problem, parameterizations.get("pixel"), grad_modifier=lambda g: 3.0 * g)
    compiled.run(sample_keys(0, [0]), max_iter=1, seed_images=_seeds(1, (4, 5, 1)),
                 on_step=lambda s: seen.append(ops.convert_to_numpy(s.grads)))
    assert np.sqrt((seen[0] ** 2).sum()) == pytest.approx(3.0, rel=1e-5)


@pytest.mark.parametrize("maximize", [False, True])
def test_best_image_is_the_lowest_loss_seen_or_the_highest_when_maximizing(maximize):
    problem, _ = _quadratic_problem()
    compiled = CompiledOptimizer(problem, parameterizations.get("pixel"), maximize_loss=maximize,
                                 grad_modifier=(lambda g: -g) if maximize else None)
    totals, images = [], []

    def on_step(step):
        totals.append(step.total.copy())
        images.append(ops.convert_to_numpy(step.images))

    record = compiled.run(sample_keys(1, [0, 1, 2]), max_iter=12, seed_images=_seeds(3, (4, 5, 1), seed=1),
                          on_step=on_step)
    totals = np.array(totals)  # (steps, B)
    best_step = totals.argmax(axis=0) if maximize else totals.argmin(axis=0)
    for b in range(3):
        np.testing.assert_array_equal(record.best_images[b], images[best_step[b]][b])
    if not maximize:
        # This bowl is overshot, so the best is not simply the last image.
        assert (best_step != 11).any()
    np.testing.assert_allclose(record.loss_history, totals)


def test_history_shapes_and_activation_nan_without_an_activation_term():
    problem, _ = _quadratic_problem()
    record = CompiledOptimizer(problem, parameterizations.get("pixel")).run(
        sample_keys(0, [0, 1]), max_iter=4, seed_images=_seeds(2, (4, 5, 1)))
    assert record.term_history.shape == (4, 1, 2)
    assert record.loss_history.shape == (4, 2)
    assert np.isnan(record.activation_history).all()
    assert record.steps == 4 and not record.stopped
    assert record.last_grads.shape == record.last_images.shape == (2, 4, 5, 1)


def test_should_stop_is_polled_between_steps():
    problem, _ = _quadratic_problem()
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) > 3

    record = CompiledOptimizer(problem, parameterizations.get("pixel")).run(
        sample_keys(0, [0]), max_iter=100, seed_images=_seeds(1, (4, 5, 1)), should_stop=should_stop)
    assert record.stopped and record.steps == 3 and record.loss_history.shape == (3, 1)


def test_on_step_returning_false_stops():
    problem, _ = _quadratic_problem()
    record = CompiledOptimizer(problem, parameterizations.get("pixel")).run(
        sample_keys(0, [0]), max_iter=100, seed_images=_seeds(1, (4, 5, 1)),
        on_step=lambda s: s.step < 4)
    assert record.stopped and record.steps == 5


def test_a_non_finite_loss_stops_with_an_explanation():
    class Log(Loss):
        name = "log"

        def __init__(self, image):
            self.image = image

        def build_loss(self):
            return ops.sum(ops.log(self.image - 1000.0), axis=(1, 2, 3))  # NaN for every pixel < 1000

    image = keras.Input((4, 4, 1))
    compiled = CompiledOptimizer(Problem(image, [(Log(image), 1.0)]), parameterizations.get("pixel"))
    with pytest.raises(FloatingPointError, match="step 0.*loss weights"):
        compiled.run(sample_keys(0, [0]), max_iter=5)


def test_problem_errors_name_the_loss():
    image = keras.Input((4, 4, 1))
    with pytest.raises(ValueError, match="No losses"):
        Problem(image, [])

    class Broken(Loss):
        name = "My broken loss"

        def build_loss(self):
            raise KeyError("no such layer")

    with pytest.raises(KeyError, match="Building loss 'My broken loss' \\(Broken\\) failed"):
        Problem(image, [(Broken(), 1.0)])


def test_channels_first_problem_works_on_channels_last_images():
    image = keras.Input((3, 6, 5))
    problem = Problem(image, [(Quadratic(image), 1.0)], channels_first=True)
    assert problem.image_shape == (6, 5, 3)
    batch = np.arange(2 * 6 * 5 * 3, dtype="float32").reshape(2, 6, 5, 3)
    np.testing.assert_array_equal(ops.convert_to_numpy(problem.to_model_format(ops.convert_to_tensor(batch))),
                                  np.moveaxis(batch, -1, 1))
    np.testing.assert_array_equal(problem.to_model_format(batch), np.moveaxis(batch, -1, 1))  # numpy stays numpy
    np.testing.assert_array_equal(problem.from_model_format(np.moveaxis(batch, -1, 1)), batch)


class _Mean(Loss):
    name = "mean"

    def __init__(self, image):
        self.image = image

    def build_loss(self):
        return -ops.mean(self.image, axis=(1, 2, 3))


def test_unknown_input_size_needs_an_image_shape():
    image = keras.Input((None, None, 1))
    problem = Problem(image, [(_Mean(image), 1.0)])
    compiled = CompiledOptimizer(problem, parameterizations.get("pixel"))
    with pytest.raises(ValueError, match="unknown dimensions"):
        compiled.run(sample_keys(0, [0]), max_iter=2)
    small = compiled.run(sample_keys(0, [0]), max_iter=2, image_shape=(6, 7, 1))
    large = compiled.run(sample_keys(0, [0]), max_iter=2, image_shape=(9, 4, 1))
    assert small.best_images.shape == (1, 6, 7, 1) and large.best_images.shape == (1, 9, 4, 1)


def test_host_input_modifiers_change_the_parameters_between_steps():
    class AddOne:
        def pre(self, inp):
            return inp + 1.0

        def post(self, inp):
            return inp

    problem, _ = _quadratic_problem()
    seeds = np.full((1, 4, 5, 1), 100.0, "float32")  # the bowl's bottom: zero gradient
    seen = []
    record = CompiledOptimizer(problem, parameterizations.get("pixel"), transforms=[AddOne()]).run(
        sample_keys(0, [0]), max_iter=1, seed_images=seeds, on_step=lambda s: seen.append(ops.convert_to_numpy(s.images)))
    np.testing.assert_allclose(seen[0], 101.0)  # the step saw the shifted image
    assert record.steps == 1


class _Canvas:
    """A pixel parameterization on a canvas twice the model's input in each direction."""

    def init_params(self, keys, image_shape, input_range, seed_images=None):
        return np.asarray(seed_images, "float32")

    def canvas_shape(self, image_shape):
        return (2 * image_shape[0], 2 * image_shape[1], image_shape[2])

    def to_image(self, params):
        return params


def test_a_parameterization_canvas_is_optimized_whole_and_resized_to_the_model_input():
    problem, _ = _quadratic_problem()  # model input (4, 5, 1)
    canvas = _seeds(2, (8, 10, 1))
    record = CompiledOptimizer(problem, _Canvas()).run(sample_keys(0, [0, 1]), max_iter=3, seed_images=canvas)
    assert record.best_params.shape == record.best_images.shape == (2, 8, 10, 1)
    # Bilinear halving of each side: each model pixel is the mean of a 2x2 block of the canvas.
    seen = canvas.reshape(2, 4, 2, 5, 2, 1).mean(axis=(2, 4))
    weights = np.linspace(0.5, 2.0, 20).reshape(4, 5, 1)
    np.testing.assert_allclose(record.loss_history[0], ((seen - 100.0) ** 2 * weights).sum(axis=(1, 2, 3)), rtol=1e-5)
    # The whole canvas moved, not only the pixels the model sees.
    assert (np.abs(record.best_params - canvas) > 0).all()
