"""Per-sample random numbers on the graph, keyed by (sample key, step, purpose).

A batch of filters optimized together must get the same random draws as each filter optimized
alone (so batched equals one-at-a-time), and a run must be reproducible from its seed. A stateful
generator gives neither: its draws depend on the batch position. Instead each sample carries an
integer key (derived from the seed and its filter index) and every draw is a hash of that key, the
step number and a ``salt`` naming the purpose (jitter x, jitter y, scale, ...).

The hash is 32-bit unsigned arithmetic done on int32 lanes with ``keras.ops`` (JAX has no 64-bit
integers unless x64 is on, and PyTorch's uint32 lacks multiplication): products wrap modulo 2**32
in two's complement on every backend, and a logical right shift is an arithmetic one masked. So
TensorFlow, JAX and PyTorch give the same draws bit for bit, the same as the int64 version before.
"""
from __future__ import annotations

import numpy as np
from keras import ops

_MASK32 = 0xFFFFFFFF
_BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def _int32(value):
    """A 32-bit constant (given as unsigned) as the int32 with the same bits."""
    return ops.convert_to_tensor(np.array(int(value) & _MASK32, np.uint32).view(np.int32))


def _shift_right(x, bits):
    """Logical right shift of int32 lanes: the arithmetic shift, sign bits masked off."""
    return ops.bitwise_and(ops.right_shift(x, bits), _int32((1 << (32 - bits)) - 1))


def _hash32(x):
    """lowbias32 (Chris Wellons): a fast, well-mixed 32-bit integer hash, on int32 lanes."""
    x = ops.bitwise_xor(x, _shift_right(x, 16))
    x = ops.multiply(x, _int32(0x7FEB352D))
    x = ops.bitwise_xor(x, _shift_right(x, 15))
    x = ops.multiply(x, _int32(0x846CA68B))
    return ops.bitwise_xor(x, _shift_right(x, 16))


def _unsigned_to_float(x):
    """float32 of the unsigned 32-bit value in int32 lanes, rounded once as a direct conversion
    would: the top 24 bits and the low 8 are each exact in float32, their sum rounds once."""
    high = ops.cast(_shift_right(x, 8), "float32") * 256.0
    return high + ops.cast(ops.bitwise_and(x, _int32(0xFF)), "float32")


def key_words(keys) -> np.ndarray:
    """Host side: ``sample_keys``'s keys as the ``(B,)`` int32 words ``SampleRandom`` takes.

    A key's low 32 bits (all of a ``sample_keys`` key) with the same bits, as int32 since JAX
    has no int64 without x64; the hash only ever uses those bits."""
    keys = np.asarray(keys)
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise ValueError(f"keys must be a 1-D integer array (one key per sample, see sample_keys); got "
                         f"dtype {keys.dtype}, shape {keys.shape}.")
    return (keys.astype(np.int64) & _MASK32).astype(np.uint32).view(np.int32)


class SampleRandom:
    """Uniform draws in ``[0, 1)`` for each sample of a batch at one optimization step.

    Parameters
    ----------
    keys : (batch,) int32 tensor of ``key_words``, or a numpy array of ``sample_keys``
        One key per sample.
    step : int32 scalar tensor or int
        The optimization step.
    """

    def __init__(self, keys, step):
        if isinstance(keys, (np.ndarray, list, tuple)):
            keys = key_words(keys)
        elif ops.dtype(keys) != "int32":  # a tensor of int64 keys: its low 32 bits (cast wraps)
            keys = ops.cast(keys, "int32")
        self.keys = ops.convert_to_tensor(keys)
        self.step = ops.cast(step, "int32")

    def uniform(self, salt: int, n: int = 1):
        """``(batch, n)`` float32 draws; a different ``salt`` gives independent draws."""
        lanes = ops.arange(n, dtype="int32")
        x = _hash32(ops.add(ops.multiply(self.keys, _int32(0x9E3779B1)), _int32(salt)))
        x = _hash32(ops.bitwise_xor(x, ops.multiply(self.step, _int32(0x85EBCA77))))
        lanes = ops.add(ops.multiply(lanes, _int32(0x27D4EB2F)), _int32(0x165667B1))
        x = _hash32(ops.bitwise_xor(x[:, None], lanes[None, :]))
        # float32 has 24 bits of mantissa: x / 2**32 rounds up to exactly 1.0 for x within 128 of
        # 2**32, which would break the half-open range (integers() one past ``high``, log(1 - u)
        # = -inf). Clamp to the largest float32 below 1; every other draw is unchanged.
        return ops.minimum(_unsigned_to_float(x) / 4294967296.0, _BELOW_ONE)

    def view(self, index: int):
        """The draws of random view ``index`` of this step (a transform's ``views``): view 0 is
        this one; the others have their samples' keys hashed with the index, so every view of
        every sample draws independently and a sample's draws still do not depend on the batch."""
        if index == 0:
            return self
        keys = _hash32(ops.bitwise_xor(self.keys, _int32(0x632BE5AB * index)))
        return SampleRandom(keys, self.step)

    def integers(self, salt: int, low, high, n: int = 1):
        """``(batch, n)`` int32 draws in ``[low, high]`` (both ends included)."""
        span = ops.cast(high - low + 1, "float32")
        return ops.cast(ops.floor(self.uniform(salt, n) * span), "int32") + low


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
