"""Per-sample random numbers on the graph, keyed by (sample key, step, purpose).

A batch of filters optimized together must get the same random draws as each filter optimized
alone (so batched equals one-at-a-time), and a run must be reproducible from its seed. A stateful
generator gives neither: its draws depend on the batch position. Instead each sample carries an
integer key (derived from the seed and its filter index) and every draw is a hash of that key, the
step number and a ``salt`` naming the purpose (jitter x, jitter y, scale, ...).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

_MASK32 = 0xFFFFFFFF
_BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def _hash32(x):
    """lowbias32 (Chris Wellons): a fast, well-mixed 32-bit integer hash, on int64 lanes."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = tf.bitwise.bitwise_and(x * 0x7FEB352D, _MASK32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x846CA68B, _MASK32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


class SampleRandom:
    """Uniform draws in ``[0, 1)`` for each sample of a batch at one optimization step.

    Parameters
    ----------
    keys : int64 tensor (batch,)
        One key per sample (see ``sample_keys``).
    step : int tensor
        The optimization step.
    """

    def __init__(self, keys, step):
        self.keys = tf.cast(keys, tf.int64)
        self.step = tf.cast(step, tf.int64)

    def uniform(self, salt: int, n: int = 1):
        """``(batch, n)`` float32 draws; a different ``salt`` gives independent draws."""
        lanes = tf.range(n, dtype=tf.int64)
        x = _hash32(tf.bitwise.bitwise_and(self.keys * 0x9E3779B1 + salt, _MASK32))
        x = _hash32(tf.bitwise.bitwise_xor(x, tf.bitwise.bitwise_and(self.step * 0x85EBCA77, _MASK32)))
        x = _hash32(tf.bitwise.bitwise_xor(x[:, None], lanes[None, :] * 0x27D4EB2F + 0x165667B1))
        # float32 has 24 bits of mantissa: x / 2**32 rounds up to exactly 1.0 for x within 128 of
        # 2**32, which would break the half-open range (integers() one past ``high``, log(1 - u)
        # = -inf). Clamp to the largest float32 below 1; every other draw is unchanged.
        return tf.minimum(tf.cast(x, tf.float32) / 4294967296.0, _BELOW_ONE)

    def integers(self, salt: int, low, high, n: int = 1):
        """``(batch, n)`` int32 draws in ``[low, high]`` (both ends included)."""
        span = tf.cast(high - low + 1, tf.float32)
        return tf.cast(tf.floor(self.uniform(salt, n) * span), tf.int32) + low


def run_seed(seed=None) -> int:
    """``seed``, or when it is None a fresh one from NumPy's global generator: as keras-vis (whose
    start images came from ``np.random``), ``np.random.seed`` / ``keras.utils.set_random_seed``
    then make runs without an explicit seed reproducible too."""
    return int(np.random.randint(2**31)) if seed is None else int(seed)


def sample_keys(seed: int, targets) -> np.ndarray:
    """One int64 key per target: a function of the seed and the target alone, not its position.

    ``targets`` holds, per sample, a filter index, a list of them (joint target), or a
    ``(filters, copy)`` pair for several images of the same target.
    """
    keys = []
    for target in targets:
        parts = target if isinstance(target, (list, tuple)) else [target]
        flat = np.array(_flatten(parts), dtype=np.uint64)
        mixed = np.random.SeedSequence([int(seed) & _MASK32, *flat.tolist()]).generate_state(1)[0]
        keys.append(int(mixed))
    return np.array(keys, dtype=np.int64)


def _flatten(parts):
    out = []
    for part in parts:
        if isinstance(part, (list, tuple)):
            out.append(len(part) + 1_000_003)  # keeps ([1, 2], 0) apart from (1, 2, 0)
            out.extend(_flatten(part))
        else:
            out.append(int(part))
    return out
