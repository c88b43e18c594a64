"""SampleRandom's draws: pinned, in their half-open ranges, and the same bit for bit on every backend."""
import hashlib

import numpy as np
import pytest
from keras import ops

import ops_backend_checks
from actmax_widgets import sample_random


def _random(keys, step):
    return sample_random.SampleRandom(ops.convert_to_tensor(np.array(keys, np.int32)), step)


def test_the_largest_hash_is_still_a_draw_below_one_and_an_integer_at_most_high(monkeypatch):
    # x / 2**32 in float32 rounds to 1.0 for the top 128 hash values: uniform() must stay < 1 and
    # integers(low, high) must not return high + 1 (transforms index lists with it).
    monkeypatch.setattr(sample_random, "_hash32", lambda x: ops.full(ops.shape(x), -1, dtype="int32"))  # 2**32 - 1
    random = _random([1, 2], 0)
    draws = ops.convert_to_numpy(random.uniform(salt=3, n=4))
    assert draws.max() < 1.0 and draws.min() > 0.99
    assert np.all(ops.convert_to_numpy(random.integers(salt=3, low=0, high=3, n=4)) == 3)


def test_draws_below_the_top_are_unchanged_by_the_clamp():
    draws = ops.convert_to_numpy(_random([5, 6, 7], 4).uniform(salt=11, n=1000))
    assert 0.0 <= draws.min() and draws.max() < 1.0
    assert 0.45 < draws.mean() < 0.55  # still uniform, not piled up at the clamp


def test_draws_are_the_ones_the_int64_hash_gave():
    # Pinned from the TensorFlow int64 version this int32 one replaced: a seed's images stay
    # the images it gave before, keys at the ends of the 32-bit range and late steps included.
    out = ops_backend_checks.outputs()
    assert out["draws uniform step 7"][:, :2].tolist() == [
        [1058995804, 1057367573], [1049296884, 1060988109], [1040182672, 1060584538], [1062731719, 1040838636],
        [1028414930, 1052720448], [1059920116, 1063257365], [1052492295, 1008290333]]
    assert out["draws integers step 0"][:, 0].tolist() == [-1, -2, -1, 2, 3, -3, 4]
    digests = {"0": "99311b921f8a23c8", "7": "ab8d31affde6bcb0", "123456": "f029f586b9ede7ca",
               "2147483647": "527ab101346f7ba0"}
    for step, digest in digests.items():
        data = out[f"draws uniform step {step}"].tobytes() + out[f"draws integers step {step}"].tobytes()
        assert hashlib.sha256(data).hexdigest()[:16] == digest, step


def test_key_words_keep_the_low_32_bits_as_int32():
    keys = np.array([0, 2**31, 2**32 - 1, 2**32 + 5], np.int64)
    words = sample_random.key_words(keys)
    assert words.dtype == np.int32 and words.view(np.uint32).tolist() == [0, 2**31, 2**32 - 1, 5]
    with pytest.raises(ValueError, match="keys must be a 1-D integer array"):
        sample_random.key_words(np.zeros((2, 2)))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_same_draws_bit_for_bit_on_jax_and_torch(backend):
    # jax runs them under jax.jit (traced keys and step), as the engine does.
    theirs, ours = ops_backend_checks.under(backend), ops_backend_checks.outputs()
    assert str(theirs["draws tensor type"]).startswith(backend)  # jaxlib, torch: computed by that backend, not TensorFlow
    for name in (n for n in ours if n.startswith("draws ") and n != "draws tensor type"):
        np.testing.assert_array_equal(theirs[name], ours[name], err_msg=name)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_ops_modules_do_not_import_tensorflow_on_jax_and_torch(backend):
    # sample_random, transforms, input_modifiers, parameterizations and backend/ all ran there.
    assert not ops_backend_checks.under(backend)["imported tensorflow"]
