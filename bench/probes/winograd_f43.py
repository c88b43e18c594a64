"""Probe: can a Winograd F(4×4, 3×3) convolution written in TensorFlow ops beat oneDNN's direct one?

Why: on VGG16 our float32 step is bound by 3×3 convolutions that already run at ~80 % of this
CPU's float32 rate (bench/RESULTS.md §1, §3); only fewer multiplications could make it faster,
and Winograd F(4,3) needs 4× fewer. TensorFlow has no Winograd kernel on CPU, so this builds one
from ops (tile gathers by strided slices, the B/G/A transforms as small matmuls, 36 batched
matmuls) and times forward and forward + input gradient against ``tf.nn.conv2d``.

Result on the 2-core AMX Xeon (2026-11-22), batch 16, ms (direct vs Winograd):

    32² × 256→256   forward 57 vs 131, forward + input gradient 114 vs 295
    64² × 128→128   forward 59 vs 244, forward + input gradient 134 vs 546
    128² × 64→64    forward 61 vs 463, forward + input gradient 147 vs 1027

Relative error ~1e-5. In tf.profiler the batched matmuls of a 32² forward take ~15 ms; the
StridedSlice tile gathers take ~170 ms of op time (summed over both threads; the call lasts
131 ms): memory traffic. Unfused, the transforms cost more than the multiplications they save,
so the core does not use it.

Run: ``PYTHONPATH=. .venv/bin/python bench/probes/winograd_f43.py``
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

# F(4, 3): Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016).
BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float32)
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float32)


def kernel_transform(kernel):
    """``(3, 3, Cin, Cout)`` → ``(36, Cin, Cout)``, G g Gᵀ per channel pair, tile positions (s, r)."""
    u = tf.einsum("rh,sw,hwio->srio", G, G, kernel)
    return tf.reshape(u, [36, kernel.shape[2], kernel.shape[3]])


def winograd_conv(x, u):
    """``tf.nn.conv2d(x, kernel, 1, "SAME")`` for NHWC ``x`` with H, W multiples of 4."""
    n, h, w, c = x.shape
    th, tw = h // 4, w // 4
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = tf.stack([padded[:, k:k + 4 * th - 3:4] for k in range(6)])           # (6, N, th, W+2, C)
    rows = tf.reshape(BT @ tf.reshape(rows, [6, -1]), [6, n, th, w + 2, c])
    tiles = tf.stack([rows[:, :, :, k:k + 4 * tw - 3:4] for k in range(6)])      # (6, 6, N, th, tw, C)
    v = tf.reshape(BT @ tf.reshape(tiles, [6, -1]), [36, n * th * tw, c])
    m = tf.matmul(v, u)                                                          # (36, tiles, Cout)
    out_channels = u.shape[-1]
    y = tf.reshape(AT @ tf.reshape(m, [6, -1]), [4, 6, -1])
    y = tf.matmul(tf.broadcast_to(AT, [4, 4, 6]), y)                            # (4 cols, 4 rows, ...)
    y = tf.transpose(tf.reshape(y, [4, 4, n, th, tw, out_channels]), [2, 3, 1, 4, 0, 5])
    return tf.reshape(y, [n, h, w, out_channels])


def median_ms(function, repeats=5):
    function()
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function().numpy()
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times))


def main():
    for n, size, channels in [(16, 32, 256), (16, 64, 128), (16, 128, 64)]:
        x = tf.Variable(tf.random.normal([n, size, size, channels]))
        kernel = tf.Variable(tf.random.normal([3, 3, channels, channels]) * 0.05)
        reference = tf.nn.conv2d(x, kernel, 1, "SAME")
        error = float(tf.reduce_max(tf.abs(reference - winograd_conv(x, kernel_transform(kernel))))
                      / tf.reduce_max(tf.abs(reference)))

        def timed(conv):
            @tf.function
            def forward():
                return tf.reduce_sum(conv())

            @tf.function
            def forward_and_input_gradient():
                with tf.GradientTape() as tape:
                    total = tf.reduce_sum(tf.square(tf.nn.relu(conv())))
                return tape.gradient(total, x)

            return median_ms(forward), median_ms(forward_and_input_gradient)

        direct = timed(lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))
        winograd = timed(lambda: winograd_conv(x, kernel_transform(kernel)))
        print(f"{size}² × {channels}→{channels}, batch {n}: relative error {error:.1e}; forward "
              f"{direct[0]:.0f} vs {winograd[0]:.0f} ms, forward + input gradient {direct[1]:.0f} vs "
              f"{winograd[1]:.0f} ms (direct vs Winograd)")


if __name__ == "__main__":
    main()
