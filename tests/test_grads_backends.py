"""Backprop modifiers, the ReLU warm-up, losses, regularizers, target heads and objectives on JAX
and PyTorch give what they give on TensorFlow (issue #17): the same nets (NumPy weights), the
same inputs, one fresh process per backend (``grads_backend_checks.py``)."""
import keras
import numpy as np
import pytest

import grads_backend_checks as checks

BACKENDS = ("jax", "torch")


@pytest.fixture(scope="module")
def reference():
    """TensorFlow's results: computed here when this process runs TensorFlow (the default)."""
    return checks.outputs() if keras.backend.backend() == "tensorflow" else checks.under("tensorflow")


@pytest.mark.parametrize("backend", BACKENDS)
def test_guided_and_rectified_backprop_change_the_gradient_as_on_tensorflow(backend, reference):
    theirs = checks.under(backend)
    for results in (reference, theirs):
        plain = results["gradient None"]
        assert np.abs(plain).max() > 1, plain
        for rule in ("guided", "rectified"):
            assert np.abs(results[f"gradient {rule}"] - plain).max() > 0.1, (rule, results[f"gradient {rule}"], plain)
    for rule in ("None", "guided", "rectified"):
        np.testing.assert_allclose(theirs[f"gradient {rule}"], reference[f"gradient {rule}"], rtol=1e-4, atol=1e-4,
                                   err_msg=f"{backend}, {rule}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_redirected_relu_passes_a_gradient_through_dead_units_only_while_warming_up(backend, reference):
    """All units of the layer are off: the true gradient is zero. Warming up, the gradient that
    would turn a unit on (unit 0: output weight 0.5 > 0) passes: d/dx = 0.5 * its input weights."""
    for results in (reference, checks.under(backend)):
        np.testing.assert_array_equal(results["redirected step 9"], np.zeros((2, 3)))
        np.testing.assert_allclose(results["redirected step 0"], [[0.5, 1.5, -0.5]] * 2, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_regularizers_target_heads_and_objectives_equal_tensorflow(backend, reference):
    theirs = checks.under(backend)
    for name in ("total variation", "lp norm", "channel mean", "channel center", "head chosen", "head every",
                 "objective values", "objective gradient"):
        # Float noise scales with the largest value (a small unit can be a difference of large ones).
        noise = 1e-6 * np.abs(reference[name]).max()
        np.testing.assert_allclose(theirs[name], reference[name], rtol=1e-5, atol=noise, err_msg=f"{backend}, {name}")
    # Computing the chosen channels only or every channel weighs the same masks the same.
    np.testing.assert_allclose(theirs["head chosen"], theirs["head every"], rtol=1e-5)
    assert np.abs(theirs["channel mean"]).max() > 1 and np.abs(theirs["head chosen"]).min() > 0.01
    assert np.abs(theirs["objective values"]).min() > 0.1 and np.abs(theirs["objective gradient"]).max() > 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_importing_the_gradient_modules_leaves_tensorflow_out(backend):
    assert not checks.under(backend)["imported tensorflow"]
