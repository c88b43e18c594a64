"""From arrays to pictures (PNG, grids, GIFs) and the result object that uses them."""
import io

import numpy as np
import pytest
from PIL import Image

from actmax_widgets import render
from actmax_widgets.result import ActMaxResult, Snapshot


def test_to_uint8_handles_floats_grey_and_odd_channel_counts():
    floats = np.array([[[-3.0, 0.4, 0.6], [254.6, 300.0, 127.5]]])
    np.testing.assert_array_equal(render.to_uint8(floats), [[[0, 0, 1], [255, 255, 128]]])
    grey = np.arange(6, dtype="uint8").reshape(2, 3)
    out = render.to_uint8(grey)
    assert out.shape == (2, 3, 3) and np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)
    assert render.to_uint8(grey[..., None]).shape == (2, 3, 3)
    two_channels = np.stack([np.full((2, 2), 10, "uint8"), np.full((2, 2), 30, "uint8")], axis=-1)
    np.testing.assert_array_equal(render.to_uint8(two_channels), np.full((2, 2, 3), 20))
    rgba = np.zeros((2, 2, 4), "uint8")
    assert render.to_uint8(rgba).shape == (2, 2, 4)


def test_to_png_round_trips():
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype("uint8")
    data = render.to_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_labelled_grid_layout_and_captions():
    images = [np.full((10, 12, 3), 40 * i, "uint8") for i in range(5)]
    margin = 8
    plain = render.labelled_grid(images, cols=3, margin=margin)
    assert plain.shape == (2 * 10 + 3 * margin, 3 * 12 + 4 * margin, 3) and plain.dtype == np.uint8
    # Tile k sits at row k // 3, column k % 3, on a white background.
    np.testing.assert_array_equal(plain[margin:margin + 10, margin + 12 + margin:margin + 24 + margin], images[1])
    np.testing.assert_array_equal(plain[0, 0], [255, 255, 255])
    captioned = render.labelled_grid(images, labels=["a", "b", "c", "d", "e"], cols=3, title="Layer conv2")
    assert captioned.shape[0] > plain.shape[0] and captioned.shape[1] == plain.shape[1]
    assert (captioned[: captioned.shape[0] // 8] < 200).any()  # the title is drawn
    square = render.labelled_grid(images)  # ceil(sqrt(5)) = 3 columns by default
    assert square.shape == plain.shape
    with pytest.raises(ValueError, match="No images"):
        render.labelled_grid([])


def test_labelled_grid_tile_size_scales_tiles_up_with_nearest_neighbour():
    image = np.zeros((4, 4, 3), "uint8")
    image[:2, :2] = 255
    grid = render.labelled_grid([image], tile_size=16, margin=0)
    assert grid.shape == (16, 16, 3)
    assert set(np.unique(grid)) == {0, 255}  # nearest: no blurred pixels


def test_save_png_and_save_gif(tmp_path):
    frames = [np.full((6, 6, 3), v, "uint8") for v in (0, 120, 240)]
    render.save_png(frames[1], tmp_path / "one.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "one.png")), frames[1])
    render.save_gif(frames, tmp_path / "anim.gif", duration_ms=50)
    with Image.open(tmp_path / "anim.gif") as gif:
        assert gif.n_frames == 3 and gif.info.get("loop") == 0
    with pytest.raises(ValueError, match="No frames"):
        render.save_gif([], tmp_path / "none.gif")


def _result(n=3, dead=(False, True, False)):
    images = np.stack([np.full((8, 8, 3), 60 * i, "uint8") for i in range(n)])
    history = np.cumsum(np.ones((4, n), "float32"), axis=0)
    return ActMaxResult(images=images, raw_images=images.astype("float32"), targets=list(range(n)),
                        labels=[f"f{i}" for i in range(n)], layer_name="conv2", loss_history=-history,
                        activation_history=history, term_history={}, dead=np.array(dead), steps=4,
                        stopped=False, seed=1, seconds=0.1)


def test_result_behaves_like_its_images(tmp_path):
    result = _result()
    assert len(result) == 3
    np.testing.assert_array_equal(result[1], result.images[1])
    np.testing.assert_array_equal(np.asarray(result), result.images)
    np.testing.assert_array_equal(result.final_activations, [4, 4, 4])
    grid = result.grid(cols=3)
    unlabelled = result.grid(cols=3, labels=False)
    assert grid.shape[1] == unlabelled.shape[1] and grid.shape[0] > unlabelled.shape[0]
    path = result.save(tmp_path / "grid.png", cols=3)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), grid)


def test_dead_targets_are_marked_in_the_grid_captions():
    alive = _result(dead=(False, False, False)).grid(cols=3, tile_size=80)
    marked = _result(dead=(False, True, False)).grid(cols=3, tile_size=80)
    assert alive.shape == marked.shape
    differs = np.argwhere((alive != marked).any(axis=-1))
    tile_w = 80
    assert len(differs) and differs[:, 1].min() >= 8 + tile_w  # only the second caption changed
    assert differs[:, 1].max() < 8 + 2 * (tile_w + 8)


def test_empty_history_and_snapshot_progress():
    result = _result()
    result.activation_history = np.zeros((0, 3), "float32")
    assert np.isnan(result.final_activations).all()
    snapshot = Snapshot(step=5, total_steps=20, images=[], activations=np.zeros(0), losses=np.zeros(0),
                        activation_history=np.zeros((5, 0)), dead=np.zeros(0, bool), seconds=0.0)
    assert snapshot.progress == 0.25


def test_grids_of_a_small_nets_images_are_enlarged_by_a_whole_factor():
    assert render.readable_tile_size(np.zeros((1, 28, 28, 1))) == 112  # MNIST: each pixel 4x4
    assert render.readable_tile_size(np.zeros((1, 32, 32, 3))) == 96  # CIFAR: 3x3
    assert render.readable_tile_size(np.zeros((1, 96, 96, 3))) is None
    rng = np.random.default_rng(0)
    result = _result(n=2, dead=(False, False))
    result.images = rng.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    result.labels = ["Egyptian cat", "espresso"]
    grid = result.grid(cols=2, labels=False)
    margin = 8
    first = grid[margin:margin + 112, margin:margin + 112]
    np.testing.assert_array_equal(first, np.kron(result.images[0], np.ones((4, 4, 1), np.uint8)))
    # At 28 px a caption as long as "Egyptian cat" was cut to "E…"; at 112 px it fits whole.
    assert result.grid(cols=2).shape[1] == grid.shape[1] == 2 * 112 + 3 * margin
