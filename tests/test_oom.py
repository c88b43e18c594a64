"""Out of device memory: the chunk is halved and the run goes on, finished chunks kept, one warning.

The out-of-memory is simulated on CPU: ``CompiledOptimizer.run`` raises each backend's kind of
error (recognised by type name or message, no backend imported) when a batch is too large.
"""
import warnings

import numpy as np
import pytest

from actmax_widgets import engine, out_of_memory, visualize_filters
from actmax_widgets.recipe import Recipe

SETTINGS = dict(max_iter=4, seed=3, recipe=Recipe(tv_weight=1, lp_norm_weight=1))


class ResourceExhaustedError(Exception):
    """Named as TensorFlow's ``tf.errors.ResourceExhaustedError``."""


class OutOfMemoryError(RuntimeError):
    """Named as PyTorch's ``torch.OutOfMemoryError``."""


class XlaRuntimeError(RuntimeError):
    """JAX's: a generic runtime error whose message says what ran out."""


OUT_OF_MEMORY = {
    "tensorflow": lambda: ResourceExhaustedError("OOM when allocating tensor with shape[4,16,16,8]"),
    "torch": lambda: OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "jax": lambda: XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.5GiB."),
}


def _failing_run(monkeypatch, too_big, make_error, fail_on_call=None):
    """``CompiledOptimizer.run`` that raises ``make_error()`` on batches larger than ``too_big``
    (or on call number ``fail_on_call``, once); returns the list of batch sizes each call got."""
    real_run, calls = engine.CompiledOptimizer.run, []

    def run(self, keys, *args, **kwargs):
        calls.append(len(keys))
        if len(keys) > too_big or len(calls) == fail_on_call:
            raise make_error()
        return real_run(self, keys, *args, **kwargs)

    monkeypatch.setattr(engine.CompiledOptimizer, "run", run)
    return calls


def _pairs(conv_net):
    return visualize_filters(conv_net, "conv2", [0, 1, 2, 3, 4, 5], batch_size=2, **SETTINGS)


def _assert_same_images(result, expected):
    assert result.targets == expected.targets
    np.testing.assert_allclose(result.raw_images, expected.raw_images, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(result.activation_history, expected.activation_history, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", sorted(OUT_OF_MEMORY))
def test_out_of_memory_halves_the_chunk_and_warns_once(conv_net, monkeypatch, backend):
    expected = _pairs(conv_net)
    calls = _failing_run(monkeypatch, 2, OUT_OF_MEMORY[backend])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = visualize_filters(conv_net, "conv2", [0, 1, 2, 3, 4, 5], batch_size=6, **SETTINGS)
    assert calls == [6, 3, 2, 2, 2]  # 6 -> 3 (too big) -> chunks of 2, as batch_size=2 runs them
    _assert_same_images(result, expected)
    shown = [w for w in caught if issubclass(w.category, out_of_memory.OutOfMemoryWarning)]
    assert len(shown) == 1
    text = str(shown[0].message)
    assert "6 images per chunk" in text and "chunks of 2" in text and "batch_size=2 or less" in text
    assert shown[0].filename == __file__  # points at the user's call, not inside the package


def test_finished_chunks_are_kept_when_a_later_chunk_runs_out(conv_net, monkeypatch):
    expected = _pairs(conv_net)
    calls = _failing_run(monkeypatch, 99, OUT_OF_MEMORY["tensorflow"], fail_on_call=2)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = visualize_filters(conv_net, "conv2", [0, 1, 2, 3, 4, 5], batch_size=2, **SETTINGS)
    assert calls == [2, 2, 1, 1, 1, 1]  # the first chunk ran once; filters 2-5 one at a time
    _assert_same_images(result, expected)


def test_out_of_memory_with_one_image_is_a_clear_error(conv_net, monkeypatch):
    calls = _failing_run(monkeypatch, 0, OUT_OF_MEMORY["jax"])
    with warnings.catch_warnings(record=True), pytest.raises(out_of_memory.DeviceOutOfMemoryError,
                                                             match="one image per chunk.*image_size"):
        warnings.simplefilter("always")
        visualize_filters(conv_net, "conv2", [0, 1, 2, 3], batch_size=4, **SETTINGS)
    assert calls == [4, 2, 1]


def test_other_errors_are_not_retried(conv_net, monkeypatch):
    calls = _failing_run(monkeypatch, 0, lambda: ValueError("a bad shape"))
    with pytest.raises(ValueError, match="a bad shape"):
        visualize_filters(conv_net, "conv2", [0, 1], batch_size=2, **SETTINGS)
    assert calls == [2]


@pytest.mark.parametrize("error, expected", [
    (ResourceExhaustedError("x"), True), (OutOfMemoryError("x"), True),
    (XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"), True),
    (RuntimeError("CUDA error: out of memory"), True), (MemoryError(), True),
    (RuntimeError("shapes do not match"), False), (ValueError("bad value"), False)])
def test_out_of_memory_is_recognised_by_name_and_message(error, expected):
    assert out_of_memory.is_out_of_memory(error) is expected


def test_a_wrapped_out_of_memory_is_recognised():
    try:
        try:
            raise ResourceExhaustedError("OOM")
        except ResourceExhaustedError as inner:
            raise RuntimeError("the step failed") from inner
    except RuntimeError as outer:
        assert out_of_memory.is_out_of_memory(outer)


def test_an_out_of_memory_mid_chunk_leaves_no_frames_or_history_of_the_failed_attempt(conv_net, monkeypatch):
    """Out of memory after some steps of a chunk: the retry's frames and histories are the only ones
    (those the failed attempt recorded are dropped), as in a run that never failed."""
    expected = _pairs(conv_net)
    real_run, failed = engine.CompiledOptimizer.run, []

    def run(self, keys, *args, on_step=None, **kwargs):
        def failing(step):
            if len(keys) > 2 and step.step == 2 and not failed:
                failed.append(step.step)
                raise OUT_OF_MEMORY["jax"]()
            return on_step(step)
        return real_run(self, keys, *args, on_step=failing, **kwargs)

    monkeypatch.setattr(engine.CompiledOptimizer, "run", run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", out_of_memory.OutOfMemoryWarning)
        result = visualize_filters(conv_net, "conv2", [0, 1, 2, 3, 4, 5], batch_size=3, **SETTINGS)
    assert failed == [2]
    _assert_same_images(result, expected)
    for got, want in zip(result.frames, expected.frames):
        assert [step for step, _ in got] == [step for step, _ in want]
        for (_, a), (_, b) in zip(got, want):
            np.testing.assert_allclose(a.astype(float), b.astype(float), atol=2)
