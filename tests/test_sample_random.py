"""SampleRandom's draws stay in their half-open ranges even at the hash's largest values."""
import numpy as np
import tensorflow as tf

from actmax_widgets import sample_random


def test_the_largest_hash_is_still_a_draw_below_one_and_an_integer_at_most_high(monkeypatch):
    # x / 2**32 in float32 rounds to 1.0 for the top 128 hash values: uniform() must stay < 1 and
    # integers(low, high) must not return high + 1 (transforms index lists with it).
    monkeypatch.setattr(sample_random, "_hash32", lambda x: tf.fill(tf.shape(x), tf.constant(2**32 - 1, tf.int64)))
    random = sample_random.SampleRandom(tf.constant([1, 2], tf.int64), tf.constant(0, tf.int64))
    draws = random.uniform(salt=3, n=4).numpy()
    assert draws.max() < 1.0 and draws.min() > 0.99
    assert np.all(random.integers(salt=3, low=0, high=3, n=4).numpy() == 3)


def test_draws_below_the_top_are_unchanged_by_the_clamp():
    random = sample_random.SampleRandom(tf.constant([5, 6, 7], tf.int64), tf.constant(4, tf.int64))
    draws = random.uniform(salt=11, n=1000).numpy()
    assert 0.0 <= draws.min() and draws.max() < 1.0
    assert 0.45 < draws.mean() < 0.55  # still uniform, not piled up at the clamp
