"""A batched run as an animation (``result.save_gif``, the ``frames`` module) and keras-vis's
callbacks (``Print``, ``GifGenerator``, one's own) in ``visualize_filters``."""
import threading

import numpy as np
import pytest
from PIL import Image

from actmax_widgets.callbacks import GifGenerator, OptimizerCallback, Print
from actmax_widgets.frames import FrameRecorder
from actmax_widgets.visualization import visualize_filters


class Recorder(OptimizerCallback):
    def __init__(self, stop_after=None, stop_event=None):
        self.calls, self.ended = [], 0
        self.stop_after, self.stop_event = stop_after, stop_event

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.calls.append((i, named_losses, np.array(overall_loss), np.array(grads), np.array(wrt_value)))
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            self.stop_event.set()

    def on_end(self):
        self.ended += 1


def _frames_of(path):
    with Image.open(path) as image:
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB")))
        return frames


def test_the_result_keeps_frames_that_end_on_its_images(conv_net):
    result = visualize_filters(conv_net, "conv2", [0, 1, 2], max_iter=12, seed=0)
    assert len(result.frames) == 3
    for image, frames in zip(result.images, result.frames):
        steps = [step for step, _ in frames]
        assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 11
        np.testing.assert_array_equal(frames[-1][1], image)  # the animation ends on the result
        assert not np.array_equal(frames[0][1], frames[-1][1])  # and shows the image changing


def test_frames_stay_within_keep_frames_and_the_memory_budget():
    recorder = FrameRecorder(n_targets=4, image_shape=(8, 8, 3), max_iter=100, max_frames=5)
    kept = [step for step in range(100) if recorder.due(step)]
    assert kept[0] == 0 and kept[-1] == 99 and len(kept) <= 6
    # 64 targets of 224 px would be 9.6 MB a step: a 20 MB budget keeps only 2 steps.
    small = FrameRecorder(64, (224, 224, 3), 200, max_frames=40, budget_bytes=20 * 2 ** 20)
    assert sum(small.due(step) for step in range(200)) <= 3
    assert FrameRecorder(4, (8, 8, 3), 100, max_frames=0).due(0) is False


def test_save_gif_of_the_grid_and_of_one_filter(conv_net, tmp_path):
    result = visualize_filters(conv_net, "conv2", [0, 1, 2, 3], max_iter=10, seed=0, keep_frames=4)
    grid = _frames_of(result.save_gif(tmp_path / "grid.gif"))
    one = _frames_of(result.save_gif(tmp_path / "filter2.webp", filter=2))
    assert 3 <= len(grid) <= 5 and len(one) == len(grid)
    assert grid[0].shape[1] > one[0].shape[1]  # four tiles against one
    assert not np.array_equal(one[0], one[-1])
    with Image.open(tmp_path / "filter2.webp") as image:
        assert image.format == "WEBP"
    with pytest.raises(ValueError, match=r"filter=7 is not among .*\[0, 1, 2, 3\]"):
        result.save_gif(tmp_path / "x.gif", filter=7)


def test_a_run_that_kept_no_frames_says_how_to_keep_them(conv_net, tmp_path):
    result = visualize_filters(conv_net, "conv2", [0], max_iter=3, seed=0, keep_frames=0)
    with pytest.raises(ValueError, match="keep_frames > 0"):
        result.save_gif(tmp_path / "none.gif")
    with pytest.raises(TypeError, match=r"keep_frames='many'.*keep_frames=40"):
        visualize_filters(conv_net, "conv2", [0], max_iter=3, keep_frames="many")


def test_callbacks_see_every_step_of_every_chunk_with_the_batch(conv_net):
    recorder = Recorder()
    visualize_filters(conv_net, "conv2", [0, 1, 2], max_iter=4, seed=0, batch_size=2, callbacks=[recorder])
    assert [call[0] for call in recorder.calls] == list(range(8)) and recorder.ended == 1
    first, last = recorder.calls[0], recorder.calls[-1]
    assert [name for name, _ in first[1]] == ["ActivationMax Loss", "L-6.0 Norm Loss", "TV(2.0) Loss"]
    assert first[1][0][1].shape == (2,) and last[1][0][1].shape == (1,)  # one value per image of the chunk
    assert first[4].shape == (2, 16, 16, 3) and first[3].shape == first[4].shape


def test_a_stopped_run_still_ends_its_callbacks_and_keeps_its_last_frame(conv_net):
    stop = threading.Event()
    recorder = Recorder(stop_after=5, stop_event=stop)
    result = visualize_filters(conv_net, "conv2", [0, 1], max_iter=50, seed=0, callbacks=[recorder],
                               stop_event=stop)
    assert result.stopped and recorder.ended == 1
    assert result.frames[0][-1][0] == result.steps - 1
    np.testing.assert_array_equal(result.frames[0][-1][1], result.images[0])


def test_gif_generator_records_the_grid_of_a_batched_run(conv_net, tmp_path, capsys):
    path = tmp_path / "run.gif"
    visualize_filters(conv_net, "conv2", [0, 1, 2, 3], max_iter=6, seed=0,
                      callbacks=[GifGenerator(str(path), every=2), Print()])
    frames = _frames_of(path)
    assert len(frames) == 3 and frames[0].shape[0] > 2 * 16 and frames[0].shape[1] > 2 * 16  # 2×2 tiles
    assert capsys.readouterr().out.count("Iteration:") == 6


def test_an_image_without_frames_shows_its_final_state_and_a_refusal_keeps_the_file(conv_net, tmp_path):
    result = visualize_filters(conv_net, "conv2", [0, 1], max_iter=6, seed=0)
    result.frames[1] = []  # e.g. a precomputed atlas tile merged into the result
    frames = _frames_of(result.save_gif(tmp_path / "grid.webp"))  # lossless: GIF palettes vary per frame
    assert len(frames) > 1
    right_tile = [frame[frame.shape[0] // 3:, frame.shape[1] // 2:] for frame in (frames[0], frames[-1])]  # below the title
    np.testing.assert_array_equal(*right_tile)
    kept = tmp_path / "kept.gif"
    kept.write_bytes(b"an earlier animation")
    result.frames = [[], []]
    with pytest.raises(ValueError, match="kept no frames"):
        result.save_gif(kept)
    assert kept.read_bytes() == b"an earlier animation"
