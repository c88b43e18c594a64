"""Frames of a run, for animations: each target's best image every few steps, at bounded memory.

A run keeps its frames so that ``ActMaxResult.save_gif`` can show how the images grew without the
user asking for it beforehand. Memory stays bounded whatever the run's length or width: the
number of frames kept per target is capped (``max_frames``) and shrinks further when the targets'
images together would pass ``budget_bytes``; frames are evenly spaced over ``max_iter`` steps
(the last step is always kept, and so is the step a stopped run ended on).
"""
from __future__ import annotations

import math

import numpy as np

from . import render

MAX_FRAMES = 40
BUDGET_BYTES = 64 * 2 ** 20


class FrameRecorder:
    """Collects ``(step, uint8 image)`` pairs per target while a run goes."""

    def __init__(self, n_targets, image_shape, max_iter, max_frames=MAX_FRAMES, budget_bytes=BUDGET_BYTES):
        one_step = max(1, n_targets * int(np.prod(image_shape)))  # bytes of every target's image, uint8
        self.limit = 0 if max_frames <= 0 else max(2, min(max_frames, budget_bytes // one_step))
        # Steps 0, stride, 2·stride, … and the last: at most `limit` frames per target.
        self.stride = max(1, math.ceil(max_iter / max(1, self.limit - 1)))
        self.max_iter = max_iter
        self.frames = [[] for _ in range(n_targets)]

    def due(self, step_index) -> bool:
        """Whether ``step_index`` (0-based, within a chunk) is a step to keep."""
        return bool(self.limit) and (step_index % self.stride == 0 or step_index == self.max_iter - 1)

    def record(self, step_index, images, start, input_range=(0, 255)):
        """Keep ``images`` (display images, one per target from ``start``) as the frames of
        ``step_index``, as uint8 (a float ``input_range``'s images are mapped to 0..255)."""
        if not self.limit:
            return
        for offset, image in enumerate(images):
            image = as_uint8(image, input_range)
            kept = self.frames[start + offset]
            if kept and kept[-1][0] == step_index:
                continue  # the stopped-run rule below may offer the same step twice
            kept.append((step_index, image))

    def forget(self, start, end):
        """Drop the frames of targets ``start`` to ``end`` (a chunk that is run again)."""
        for index in range(start, end):
            self.frames[index] = []

    def frames_of(self, index):
        """Target ``index``'s frames, ``[(step, image), …]`` in step order."""
        return self.frames[index]


def as_uint8(image, input_range):
    """A display image as a fresh uint8 array: uint8 as it is, floats mapped from ``input_range``."""
    image = np.asarray(image)
    return image.copy() if image.dtype == np.uint8 else render.from_range(image, input_range)


def grid_frames(frames_per_target, make_grid):
    """Whole-grid frames from per-target frames: at each kept step, every target's latest image
    up to that step (targets of a later chunk start at their own step 0, so the steps line up).

    ``make_grid(images, step)`` draws one frame.
    """
    steps = sorted({step for frames in frames_per_target for step, _ in frames})
    result = []
    for step in steps:
        images = [_latest(frames, step) for frames in frames_per_target]
        result.append(make_grid(images, step))
    return result


def _latest(frames, step):
    chosen = frames[0][1] if frames else None
    for frame_step, image in frames:
        if frame_step > step:
            break
        chosen = image
    return chosen
