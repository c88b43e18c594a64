"""The atlas's site (data.js beside static pages) and reader (tiles back as PNG/arrays)."""
import json
import re

import numpy as np
import pytest

from actmax_widgets.atlas import site
from actmax_widgets.atlas.reader import open_atlas
from atlas_store import colour, write_store

HOSTILE = '</script><script>window.PWNED=1</script><!--'


def _data(out):
    """What data.js sets window.ATLAS to, read back as JSON."""
    text = (out / "data.js").read_text(encoding="utf-8")
    assert text.startswith("window.ATLAS = ") and text.rstrip().endswith(";")
    return json.loads(text[len("window.ATLAS = "):].rstrip().rstrip(";")), text


def test_site_files_are_written_beside_the_manifest(tmp_path):
    write_store(tmp_path, [("conv1", "conv2d", 4, [0, 1, 2, 3])])
    index = site.write_site(tmp_path)
    assert index == tmp_path / "index.html"
    for name in ("index.html", "atlas.js", "atlas.css", "data.js"):
        assert (tmp_path / name).is_file(), name
    html = index.read_text()
    # No server and no CDN: every script and stylesheet is a file beside the page.
    assert re.findall(r'<script src="([^"]+)"', html) == ["data.js", "atlas.js"]
    assert not re.search(r"https?://", html + (tmp_path / "atlas.js").read_text().replace(
        "http://www.w3.org/2000/svg", ""))
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"


def test_data_js_keeps_a_hostile_layer_name_as_data(tmp_path):
    write_store(tmp_path, [(HOSTILE, "conv2d", 2, [0, 1]), ("conv & <b>", "dense", 3, [1])])
    site.write_site(tmp_path)
    data, text = _data(tmp_path)
    assert "</" not in text and "<script" not in text and "<!--" not in text
    assert [layer["name"] for layer in data["layers"]] == [HOSTILE, "conv & <b>"]
    # The image paths still point at the files the store wrote (the hostile name's safe folder).
    for layer in data["layers"]:
        for channel in layer["channels"]:
            assert (tmp_path / channel["image"]).is_file()


def test_data_js_carries_progress_curves_and_examples(tmp_path):
    write_store(tmp_path, [("conv1", "conv2d", 4, [0, 1, 2, 3]), ("conv2", "conv2d", 6, [0, 1]),
                           ("predictions", "dense", 10, [])], examples=True, planned_chunks=10)
    site.write_site(tmp_path)
    data, _ = _data(tmp_path)
    assert data["progress"] == {"chunks_done": 3, "chunks_planned": 10, "channels_done": 6, "channels_planned": 20}
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert [(l["kind"], l["n_filters"], len(l["channels"])) for l in data["layers"]] == [
        ("conv2d", 4, 4), ("conv2d", 6, 2), ("dense", 10, 0)]
    channel = layers["conv2"]["channels"][1]
    assert channel["filter"] == 1 and channel["activation"] == 2.5
    assert channel["curve"][0] == 0 and channel["curve"][-1] == pytest.approx(2.5) and len(channel["curve"]) == 8
    assert channel["examples"] == [f"examples/conv2/1_{k}.png" for k in range(3)]
    assert all((tmp_path / e).is_file() for e in channel["examples"])


def test_data_js_carries_each_channels_variants(tmp_path):
    write_store(tmp_path, [("conv1", "conv2d", 4, [0, 1, 2, 3])], variants=3)
    site.write_site(tmp_path)
    data, _ = _data(tmp_path)
    assert data["settings"]["variants"] == {"count": 3, "diversity": 10.0}
    channel = data["layers"][0]["channels"][2]
    assert channel["variants"] == [{"image": f"variants/conv1/2_{j}.png", "activation": pytest.approx(3.0 + j / 10)}
                                   for j in range(3)]
    assert all((tmp_path / v["image"]).is_file() for v in channel["variants"])
    write_store(tmp_path / "none", [("conv1", "conv2d", 4, [0])])  # built with variants=0 (or before them)
    site.write_site(tmp_path / "none")
    assert _data(tmp_path / "none")[0]["layers"][0]["channels"][0]["variants"] == []


def test_data_js_is_rewritten_as_chunks_land(tmp_path):
    write_store(tmp_path, [("conv1", "conv2d", 4, [0, 1])])
    site.write_site(tmp_path)
    write_store(tmp_path, [("conv1", "conv2d", 4, [0, 1, 2, 3])])
    site.write_site(tmp_path)
    data, _ = _data(tmp_path)
    assert data["progress"]["channels_done"] == 4


def test_write_site_without_a_manifest_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest\.json.*build"):
        site.write_site(tmp_path)


def test_reader_finds_the_tiles_as_png_and_arrays(tmp_path, conv_net):
    write_store(tmp_path, [("conv1", "conv2d", 8, [0, 1, 2, 5]), ("conv2", "conv2d", 8, [3])])
    atlas = open_atlas(tmp_path, conv_net)
    assert atlas.filters("conv1") == [0, 1, 2, 5] and atlas.filters("conv2") == [3]
    assert atlas.filters("predictions") == []
    assert atlas.has("conv1", 5) and not atlas.has("conv1", 3)
    image = atlas.image("conv1", 5)
    assert image.dtype == np.uint8 and image.shape == (16, 16, 3)
    assert tuple(image[0, 0]) == colour(0, 5)
    assert atlas.png("conv2", 3).startswith(b"\x89PNG")
    assert atlas.activation("conv1", 2) == 3.5
    with pytest.raises(KeyError, match="filter 3"):
        atlas.png("conv1", 3)


def test_reader_refuses_an_atlas_of_another_model(tmp_path, conv_net):
    write_store(tmp_path / "a", [("conv1", "conv2d", 16, [0])], model_name="bigger_net")
    with pytest.raises(ValueError, match=r"atlas=.*bigger_net.*conv1.*16 channels in the atlas and 8"):
        open_atlas(tmp_path / "a", conv_net)
    write_store(tmp_path / "b", [("block1_conv", "conv2d", 8, [0])], model_name="other")
    with pytest.raises(ValueError, match=r"layer 'block1_conv' this model lacks"):
        open_atlas(tmp_path / "b", conv_net)
    write_store(tmp_path / "c", [("conv1", "conv2d", 8, [0])], input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"input shape is \(32, 32, 3\).*\(16, 16, 3\)"):
        open_atlas(tmp_path / "c", conv_net)


def test_reader_names_a_folder_that_is_not_an_atlas(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"atlas=.*not a built atlas.*build"):
        open_atlas(tmp_path)
    with pytest.raises(TypeError, match="atlas must be the folder"):
        open_atlas(3)
