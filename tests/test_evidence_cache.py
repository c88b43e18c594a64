"""The scan cache: a second call reads the disk and runs no model; new weights or changed images
scan again; a damaged entry is recomputed; a tf.data pipeline is never cached (issue #14)."""
import os

import keras
import numpy as np
import pytest
from PIL import Image

from actmax_widgets.evidence import cache, dataset_examples, scan


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def forward_calls(monkeypatch):
    """How many times a scan built its compiled forward (once per scan that runs the model)."""
    calls = []
    build = scan._forward

    def counting(*args):
        calls.append(1)
        return build(*args)

    monkeypatch.setattr(scan, "_forward", counting)
    return calls


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def examples_of(model, images, **options):
    return dataset_examples(model, "conv2", images=images, top_k=3, progress=False, **options)


def test_a_second_call_reads_the_cache_and_runs_no_model(conv_net, photo_folder, cache_dir, forward_calls):
    first = examples_of(conv_net, photo_folder)
    assert len(forward_calls) == 1 and len(list(cache_dir.glob("examples-*.npz"))) == 1
    second = examples_of(conv_net, photo_folder)
    assert len(forward_calls) == 1
    for name in ("patches", "activations", "where", "image_indices"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert (second.image_names, second.filters, second.receptive_field) == (
        first.image_names, first.filters, first.receptive_field)
    assert second.complete and second.images_scanned == 5


def test_new_weights_scan_again(conv_net, photo_folder, cache_dir, forward_calls):
    before = examples_of(conv_net, photo_folder)
    layer = conv_net.get_layer("conv2")
    kernel, bias = layer.get_weights()
    layer.set_weights([-kernel, bias])
    after = examples_of(conv_net, photo_folder)
    assert len(forward_calls) == 2
    assert not np.allclose(after.activations, before.activations)


def test_changed_images_scan_again(conv_net, photo_folder, cache_dir, forward_calls):
    examples_of(conv_net, photo_folder)
    Image.fromarray(np.full((20, 20, 3), 255, np.uint8)).save(photo_folder / "p2.png")
    os.utime(photo_folder / "p2.png", ns=(1, 1))  # even with an old time stamp: the size changed
    examples_of(conv_net, photo_folder)
    (photo_folder / "sub").mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo_folder / "sub" / "new.jpg")
    again = examples_of(conv_net, photo_folder)
    assert len(forward_calls) == 3 and again.images_scanned == 6


def test_changed_array_pixels_scan_again(conv_net, cache_dir, forward_calls):
    images = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3)).astype(np.uint8)
    examples_of(conv_net, images)
    examples_of(conv_net, images.copy())
    assert len(forward_calls) == 1  # the same pixels in another array: a hit
    images[3, 5, 5, 0] ^= 1
    examples_of(conv_net, images)
    assert len(forward_calls) == 2


def test_other_arguments_get_their_own_entry(conv_net, photo_folder, cache_dir, forward_calls):
    examples_of(conv_net, photo_folder)
    examples_of(conv_net, photo_folder, filters=[1, 2])
    dataset_examples(conv_net, "conv2", images=photo_folder, top_k=2, progress=False)
    dataset_examples(conv_net, "conv1", images=photo_folder, top_k=3, progress=False)
    assert len(forward_calls) == 4 and len(list(cache_dir.glob("examples-*.npz"))) == 4


def test_a_damaged_entry_is_recomputed(conv_net, photo_folder, cache_dir, forward_calls):
    examples_of(conv_net, photo_folder)
    (entry,) = cache_dir.glob("examples-*.npz")
    entry.write_bytes(b"half a file")
    again = examples_of(conv_net, photo_folder)
    assert len(forward_calls) == 2 and again.images_scanned == 5
    assert not list(cache_dir.glob(".examples-*"))  # no temporary file left behind


def test_cache_false_neither_reads_nor_writes(conv_net, photo_folder, cache_dir, forward_calls):
    examples_of(conv_net, photo_folder, cache=False)
    examples_of(conv_net, photo_folder, cache=False)
    assert len(forward_calls) == 2 and not cache_dir.exists()


def test_a_tf_data_pipeline_is_never_cached(conv_net, cache_dir, forward_calls):
    import tensorflow as tf

    images = np.random.default_rng(2).integers(0, 256, (3, 16, 16, 3)).astype(np.uint8)
    dataset = tf.data.Dataset.from_tensor_slices(images)
    examples_of(conv_net, dataset)
    examples_of(conv_net, dataset)
    assert len(forward_calls) == 2 and not cache_dir.exists()


def test_an_unwritable_cache_folder_only_costs_time(conv_net, photo_folder, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(blocker / "cache"))
    assert examples_of(conv_net, photo_folder).images_scanned == 5


def test_the_folder_defaults_to_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("ACTMAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.folder() == tmp_path / ".cache" / "actmax_widgets"


def test_same_weights_in_another_model_object_hit(photo_folder, cache_dir, forward_calls):
    from core_helpers import SIZE, conv_layers, functional

    keras.utils.set_random_seed(0)
    one = functional((SIZE, SIZE, 3), conv_layers(), "conv_net")
    two = functional((SIZE, SIZE, 3), conv_layers(), "conv_net")
    two.set_weights(one.get_weights())
    examples_of(one, photo_folder)
    examples_of(two, photo_folder)
    assert len(forward_calls) == 1
