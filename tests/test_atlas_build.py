"""atlas.build (issue #15) with the local engine, on a tiny conv net (16 px, 8 steps): the images
equal one visualize_filters call however the layer is chunked, an interrupted build resumes
without recomputing a written chunk, another model's or settings' atlas is refused unless
overwrite, natural examples are stored, bad arguments are named, and the CLI subcommand runs."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from actmax_widgets import styles
from actmax_widgets.atlas import build, engines, store
from actmax_widgets.visualization import visualize_filters
from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels

SETTINGS = {"steps": 8, "image_size": SIZE, "seed": 3, "style": "fourier", "variants": 2}
NO_VARIANTS = {**SETTINGS, "variants": 0}  # builds of other layers: no second compiled step to wait for


def tiny(seed=0, name="conv_net"):
    keras.utils.set_random_seed(seed)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), name))


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.fixture(scope="module")
def atlas(model, tmp_path_factory):
    """conv2 (8 filters) in chunks of 3: 0-3, 3-6 and 6-8 (the last one padded to 3), 2 variants each."""
    out = tmp_path_factory.mktemp("atlas")
    summary = build(model, out, layers=["conv2"], filters_per_chunk=3, progress=False, **SETTINGS)
    return out, summary


def read_images(out, layer, filters):
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    paths = {f: p for c in manifest["chunks"].values() if c["layer"] == layer for f, p in zip(c["filters"], c["images"])}
    return np.stack([np.asarray(Image.open(Path(out) / paths[f])) for f in filters])


def read_variants(out, layer, filters):
    """(filters, variants, H, W, C) uint8 as the manifest names them."""
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    rows = {f: row for c in manifest["chunks"].values() if c["layer"] == layer
            for f, row in zip(c["filters"], c.get("variants") or [])}
    return np.stack([[np.asarray(Image.open(Path(out) / name)) for name in rows[f]] for f in filters])


def test_each_channel_has_its_diverse_variants_whatever_the_chunking(model, atlas):
    """2 variants per channel, stored and in the manifest; distinct from each other and from the
    main image; still driving the channel; what the diversity penalty gives for the channel's
    copies alone (the padded last chunk 6-8 included), so chunking changes none of them."""
    from actmax_widgets.atlas import variants

    out, _ = atlas
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["variants"] == {"count": 2, "diversity": variants.DIVERSITY}
    found = read_variants(out, "conv2", range(8))
    assert found.shape == (8, 2, SIZE, SIZE, 3)
    main = read_images(out, "conv2", range(8))
    for f in range(8):
        assert not np.array_equal(found[f, 0], found[f, 1])
        assert not any(np.array_equal(v, main[f]) for v in found[f])
    entry = manifest["chunks"]["conv2:6-8"]
    assert entry["variants"] == [["variants/conv2/6_0.png", "variants/conv2/6_1.png"],
                                 ["variants/conv2/7_0.png", "variants/conv2/7_1.png"]]
    main_activations = [a for c in manifest["chunks"].values() for a in c["activations"]]
    variant_activations = [row for c in manifest["chunks"].values() for row in c["variant_activations"]]
    assert all(min(row) > 0.5 * a > 0 for row, a in zip(variant_activations, main_activations))
    recipe = styles.get("fourier").replace(diversity=variants.DIVERSITY)
    alone = visualize_filters(model, "conv2", [6, 6, 7, 7], max_iter=8, image_size=SIZE, recipe=recipe,
                              seed=3 + variants.SEED_OFFSET, batch_size=4)
    np.testing.assert_array_equal(found[6:].reshape(4, SIZE, SIZE, 3), alone.images)


def test_chunked_atlas_equals_one_call_for_all_filters(model, atlas):
    out, summary = atlas
    assert (summary.chunks_total, summary.chunks_computed, summary.channels_computed) == (3, 3, 8)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["chunks"]) == ["conv2:0-3", "conv2:3-6", "conv2:6-8"]
    assert manifest["layers"][0]["name"] == "conv2" and manifest["layers"][0]["n_filters"] == 8
    one_call = visualize_filters(model, "conv2", list(range(8)), max_iter=8, image_size=SIZE, seed=3,
                                 style="fourier", batch_size=8)
    np.testing.assert_array_equal(read_images(out, "conv2", range(8)), one_call.images)
    entry = manifest["chunks"]["conv2:6-8"]
    np.testing.assert_allclose(entry["activations"], one_call.final_activations[6:], rtol=1e-4)
    history = json.loads((out / entry["histories"]).read_text())
    assert history["filters"] == [6, 7] and len(history["activation_history"][0]) == 8


def test_rerun_with_the_same_settings_computes_nothing(model, atlas, monkeypatch):
    out, _ = atlas
    computed = []
    monkeypatch.setattr(engines, "compute_chunk", lambda *a, **k: computed.append(a[1].key))
    summary = build(model, out, layers=["conv2"], filters_per_chunk=3, progress=False, **SETTINGS)
    assert computed == [] and (summary.chunks_computed, summary.chunks_skipped) == (0, 3)


def test_an_interrupted_build_resumes_without_recomputing_written_chunks(model, atlas, tmp_path, monkeypatch):
    out = tmp_path / "atlas"
    real = engines.compute_chunk
    computed = []

    def counting(*args, **kwargs):
        computed.append(args[1].key)
        return real(*args, **kwargs)

    def stop_after_two(key, entry, done, total):
        if done == 2:
            raise KeyboardInterrupt("stopped by the test")

    monkeypatch.setattr(engines, "compute_chunk", counting)
    with pytest.raises(KeyboardInterrupt):
        build(model, out, layers=["conv2"], filters_per_chunk=3, progress=False, on_chunk=stop_after_two, **SETTINGS)
    assert computed == ["conv2:0-3", "conv2:3-6"]
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(written) == 6 + 6 * 2  # two chunks' images and their variants, two per channel
    computed.clear()
    summary = build(model, out, layers=["conv2"], filters_per_chunk=3, progress=False, **SETTINGS)
    assert computed == ["conv2:6-8"]
    assert (summary.chunks_computed, summary.chunks_skipped) == (1, 2)
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())  # nothing rewritten
    np.testing.assert_array_equal(read_images(out, "conv2", range(8)), read_images(atlas[0], "conv2", range(8)))
    np.testing.assert_array_equal(read_variants(out, "conv2", range(8)), read_variants(atlas[0], "conv2", range(8)))


def test_a_killed_write_leaves_no_half_file(tmp_path, monkeypatch):
    """A chunk's manifest entry is written after its files, each through a temporary name."""
    target = tmp_path / "a.json"
    target.write_bytes(b"old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        store.write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_another_models_or_settings_atlas_is_refused_unless_overwrite(model, atlas, tmp_path, monkeypatch):
    out = tmp_path / "atlas"
    shutil.copytree(atlas[0], out)
    monkeypatch.setattr(engines, "compute_chunk", lambda *a: pytest.fail("refused folders compute nothing"))
    other = tiny(seed=5, name="other_net")
    with pytest.raises(ValueError, match=r"another model \('conv_net'.*'other_net'.*overwrite=True"):
        build(other, out, layers=["conv2"], filters_per_chunk=3, progress=False, **SETTINGS)
    with pytest.raises(ValueError, match=r"other settings: steps=8 \(now 9\).*overwrite=True"):
        build(model, out, layers=["conv2"], filters_per_chunk=3, progress=False, **{**SETTINGS, "steps": 9})
    assert (out / "images" / "conv2" / "0.png").is_file()  # refusing deletes nothing
    monkeypatch.undo()
    summary = build(other, out, layers=["predictions"], filters_per_chunk=4, overwrite=True, progress=False,
                    **NO_VARIANTS)
    manifest = json.loads((out / "manifest.json").read_text())
    assert summary.chunks_computed == 1 and list(manifest["chunks"]) == ["predictions:0-4"]
    assert manifest["model"]["name"] == "other_net" and not (out / "images" / "conv2").exists()


def test_a_folder_that_is_not_an_atlas_is_never_overwritten(model, tmp_path):
    (tmp_path / "thesis.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not empty and holds no atlas.*nothing in it is deleted"):
        build(model, tmp_path, layers=["conv2"], overwrite=True, progress=False, **SETTINGS)
    assert (tmp_path / "thesis.txt").read_text() == "mine"


def test_natural_examples_are_stored_per_channel_from_one_scan_per_layer(model, tmp_path, monkeypatch):
    import actmax_widgets.evidence as evidence

    photos = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE, 3)).astype("uint8")
    real, scanned = evidence.dataset_examples, []

    def counting(model, layer, filters, *args, **kwargs):
        scanned.append(list(filters))
        return real(model, layer, filters, *args, **kwargs)

    monkeypatch.setattr(evidence, "dataset_examples", counting)
    build(model, tmp_path / "a", layers=["conv2"], filters_per_chunk=3, images=photos, examples_per_channel=2,
          progress=False, **NO_VARIANTS)
    assert scanned == [list(range(8))]  # 3 chunks, the images scanned once
    chunks = json.loads((tmp_path / "a" / "manifest.json").read_text())["chunks"]
    entry = chunks["conv2:6-8"]
    assert entry["examples"][1] == ["examples/conv2/7_0.png", "examples/conv2/7_1.png"]
    assert all((tmp_path / "a" / name).is_file() for c in chunks.values() for row in c["examples"] for name in row)
    alone = real(model, "conv2", [6, 7], photos, top_k=2, progress=False, cache=False)  # as one chunk's scan
    np.testing.assert_allclose(entry["example_activations"], alone.activations, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a" / entry["examples"][1][0])), alone.patches[1, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"layers": ["conv2", "nope"]}, r"layers: 'nope' cannot be visualized .*catalogue.visualizable_layers"),
    ({"engine": "spark"}, r"Unknown engine 'spark'.*engine='local'.*engine='ray'"),
    ({"address": "10.0.0.5:6379"}, r"address='10.0.0.5:6379' is for engine='ray'"),
    ({"filters_per_chunk": 0}, r"filters_per_chunk.*1..1024"),
    ({"steps": 0}, r"steps.*at least 1 step"),
    ({"style": "fourrier"}, r"style 'fourrier'.*did you mean 'fourier'"),
    ({"images": "/no/such/folder"}, r"images.*/no/such/folder"),
    ({"variants": -1}, r"variants=-1.*0..16 diverse variants per channel"),
    ({"variants": 2.5}, r"variants=2.5 is not an integer"),
])
def test_bad_arguments_are_named_with_value_and_fix(model, tmp_path, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build(model, tmp_path / "a", progress=False, **{**SETTINGS, **kwargs})
    assert not (tmp_path / "a").exists()  # refused before anything is written


def test_cli_atlas_subcommand(model, tmp_path):
    path = tmp_path / "tiny.keras"
    model.save(path)
    command = [sys.executable, "-m", "actmax_widgets", "atlas", "--model", str(path), "--out", str(tmp_path / "a"),
               "--layers", "predictions", "--steps", "2", "--size", str(SIZE), "--variants", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a" / "images" / "predictions" / "3.png").is_file()
    assert done.stdout.strip().endswith("index.html")
    bad = subprocess.run(command[:-8] + ["--engine", "spark"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--engine" in bad.stderr and "spark" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_cli_variants_reach_build_and_a_bad_count_is_named(tmp_path):
    from actmax_widgets.atlas import cli
    from actmax_widgets.cli import UsageError

    with pytest.raises(UsageError, match=r"--variants=-1.*0..16"):
        cli._checked(["--out", str(tmp_path / "a"), "--variants", "-1"])
    assert cli._checked(["--out", str(tmp_path / "a")]).variants == 3
    assert cli._checked(["--out", str(tmp_path / "a"), "--variants", "0"]).variants == 0


def test_cli_lists_the_engines_build_accepts():
    from actmax_widgets.atlas import cli

    assert cli.ENGINES == engines.ENGINES


def test_a_damaged_manifest_is_refused_and_overwrite_replaces_it(tmp_path):
    from actmax_widgets.atlas import store

    out = tmp_path / "atlas"
    out.mkdir()
    (out / store.MANIFEST).write_text('{"format": 1, "chunks": ')  # a write cut short by hand
    info, settings = {"name": "m", "fingerprint": "abc"}, {"steps": 4}
    with pytest.raises(store.AtlasExists, match="damaged manifest.json.*overwrite=True"):
        store.AtlasStore.open(out, info, settings)
    atlas = store.AtlasStore.open(out, info, settings, overwrite=True)
    assert atlas.manifest["chunks"] == {} and atlas.manifest["model"] == info


def test_variants_run_in_batches_of_at_most_the_main_batch():
    """16 filters per chunk x 3 variants: calls of at most 16 images (not one batch of 48, out of
    memory on a deep net), each filter's 3 copies in one call, every call the same size (one
    compiled step), the short last group filled with other filters, and each filter's variants
    its own, in order."""
    import types

    from actmax_widgets.atlas import variants

    calls = []

    def fake_visualize(model, chunk, targets, settings, batch_size, diversity=0.0, seed=None):
        calls.append((list(targets), batch_size))
        images = np.array([[[[t, k, 0]]] for k, t in enumerate(targets)], dtype="uint8")
        return types.SimpleNamespace(images=images, final_activations=np.array(targets, dtype="float32"))

    chunk = types.SimpleNamespace(filters=list(range(16, 32)), start=16)
    settings = {"filters_per_chunk": 16, "seed": 3, "variants": {"count": 3, "diversity": variants.DIVERSITY}}
    images, activations = variants.compute(None, chunk, settings, fake_visualize)
    assert all(batch == len(targets) <= 16 for targets, batch in calls)
    assert {batch for _, batch in calls} == {15}
    for targets, _ in calls:
        assert all(targets.count(f) == 3 for f in set(targets)) and len(set(targets)) == 5
    assert images.shape == (16, 3, 1, 1, 3) and (images[:, :, 0, 0, 0] == np.arange(16, 32)[:, None]).all()
    assert (activations == np.arange(16, 32)[:, None]).all()
