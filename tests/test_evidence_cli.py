"""``python -m actmax_widgets --images DIR``: each filter's top natural patches drawn under its
tile; a folder without photos is one line before any work (issue #14)."""
import numpy as np
import pytest
from PIL import Image

from actmax_widgets import cli
from actmax_widgets.evidence import tiles


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def saved_net(conv_net, tmp_path):
    path = tmp_path / "net.keras"
    conv_net.save(path)
    return str(path)


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        pixels = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / ("sub" if i else "") / f"{i}.png")
    return str(folder)


def test_images_adds_the_top_patches_under_each_tile(saved_net, photo_folder, tmp_path, capsys, monkeypatch):
    made, original = [], tiles.result_with_examples

    def spy(result, examples, count=3):
        made.append((result, examples, original(result, examples, count)))
        return made[-1][2]

    monkeypatch.setattr(tiles, "result_with_examples", spy)
    out = tmp_path / "grid.png"
    status = cli.main(["--model", saved_net, "--layer", "conv2", "--filters", "0-3", "--steps", "2", "--cols", "4",
                       "--out", str(out), "--images", photo_folder])
    assert status == 0 and "Scanning images: 4/4" in capsys.readouterr().err
    (result, examples, shown), = made
    assert examples.filters == [0, 1, 2, 3] and examples.images_scanned == 4 and examples.patches.shape[1] == 3
    for image, target, tile in zip(result.images, result.targets, shown.images):
        np.testing.assert_array_equal(tile, tiles.with_patches(image, examples.patches[target]))
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == shown.grid(cols=4, title="t").shape  # the saved grid is the one with the patches
    assert grid.shape[0] > result.grid(cols=4, title="t").shape[0]


def test_a_folder_without_photos_is_one_line_before_the_model_loads(saved_net, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_load_model", lambda path: pytest.fail("the model was loaded"))
    (tmp_path / "empty").mkdir()
    status = cli.main(["--model", saved_net, "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "g.png")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1
    assert f"--images='{tmp_path / 'empty'}' holds no JPEG or PNG files" in lines[0]


def test_with_patches_puts_the_best_patches_in_order_under_the_image():
    image = np.zeros((60, 60, 3), np.uint8)
    patches = [np.full((5, 5, 3), value, np.uint8) for value in (200, 100, 50, 25)]
    tile = tiles.with_patches(image, patches, count=3)
    gap, side = 2, (60 - 2 * 2) // 3
    assert tile.shape == (60 + gap + side, 60, 3)
    np.testing.assert_array_equal(tile[:60], image)
    strip = tile[60 + gap:]
    for i, value in enumerate((200, 100, 50)):  # the fourth is left out
        assert (strip[:, i * (side + gap):i * (side + gap) + side] == value).all()
    assert (tile[60:60 + gap] == 255).all()


def test_a_target_that_was_not_scanned_names_the_filter_and_the_fix():
    import types

    result = types.SimpleNamespace(images=np.zeros((2, 8, 8, 3), np.uint8), targets=[1, 5])
    examples = types.SimpleNamespace(layer="conv2", filters=[0, 1, 2], patches=np.zeros((3, 3, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError) as raised:
        tiles.result_with_examples(result, examples)
    message = str(raised.value)
    assert "filter 5 of the result is not among the filters [0, 1, 2]" in message
    assert "dataset_examples(model, 'conv2', filters=result.targets)" in message
