"""dataset_examples: the streaming top-k equals a brute-force scan over all activations, patches
are the crops its boxes name, Stop keeps what is done, and bad arguments are named (issue #14)."""
import keras
import numpy as np
import pytest

import actmax_widgets
from actmax_widgets.evidence import Examples, dataset_examples, scan


def small_net():
    """32 px RGB: conv (same) -> max pool -> conv (valid, ReLU) -> a two-branch add -> GAP -> dense."""
    keras.utils.set_random_seed(4)
    image = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(image)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv2")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, name="dense")(x)
    return keras.Model(image, out, name="small_net")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def net():
    return small_net()


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (45, 32, 32, 3)).astype(np.uint8)


def brute_force(net, layer, images, top_k):
    """Every activation of every image at once, then numpy: (values, image indices, flat positions)."""
    probe = keras.Model(net.inputs[0], net.get_layer(layer).output)
    out = np.asarray(probe(images.astype("float32"), training=False))
    flat = out.reshape(len(images), -1, out.shape[-1])  # (N, positions, F)
    best, where = flat.max(axis=1).T, flat.argmax(axis=1).T  # (F, N)
    order = np.argsort(-best, axis=1, kind="stable")[:, :top_k]
    return np.take_along_axis(best, order, 1), order, np.take_along_axis(where, order, 1)


@pytest.mark.parametrize("layer", ["conv2", "add", "dense"])
def test_streaming_top_k_equals_a_brute_force_scan(net, photos, layer):
    examples = dataset_examples(net, layer, images=photos, top_k=6, batch_size=7, cache=False, progress=False)
    values, indices, _ = brute_force(net, layer, photos, 6)
    np.testing.assert_allclose(examples.activations, values, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(examples.image_indices, indices)
    assert examples.images_scanned == 45 and examples.complete
    assert examples.image_names[indices[0, 0]] == f"images[{indices[0, 0]}]"
    assert np.all(np.diff(examples.activations, axis=1) <= 0)


def test_each_patch_is_the_crop_its_box_names(net, photos):
    examples = dataset_examples(net, "conv2", filters=[1, 3], images=photos, top_k=4, batch_size=10,
                                cache=False, progress=False)
    _, _, positions = brute_force(net, "conv2", photos, 4)
    assert examples.patches.shape == (2, 4, 8, 8, 3)  # conv3 -> pool2 -> conv3: 3 + 1, then + 2 x 2 = 8 px
    for row, f in enumerate([1, 3]):
        for j in range(4):
            top, left, bottom, right = examples.where[row, j]
            r, c = divmod(int(positions[f, j]), 14)  # conv2's output is 14 x 14
            assert (top, left) == (max(0, min(2 * r - 1, 24)), max(0, min(2 * c - 1, 24)))
            image = photos[examples.image_indices[row, j]]
            np.testing.assert_array_equal(examples.patches[row, j], image[top:bottom, left:right])
    np.testing.assert_array_equal(examples.top_patch(3), examples.patches[1, 0])
    assert examples.best_activation(3) == pytest.approx(float(examples.activations[1, 0]))


def test_a_dense_unit_gets_whole_images(net, photos):
    examples = dataset_examples(net, "dense", filters=[2], images=photos[:5], top_k=3, cache=False, progress=False)
    assert examples.patches.shape == (1, 3, 32, 32, 3)
    assert examples.where[0].tolist() == [[0, 0, 32, 32]] * 3
    assert examples.receptive_field == (32, 32)


def test_fewer_images_than_top_k_gives_fewer_patches(net, photos):
    examples = dataset_examples(net, "conv2", images=photos[:3], top_k=9, cache=False, progress=False)
    assert examples.patches.shape[:2] == (5, 3) and examples.activations.shape == (5, 3)


def test_stop_part_way_returns_what_is_done(net, photos):
    calls, progress = [], []

    def should_stop():
        calls.append(1)
        return len(calls) > 2  # two batches, then Stop

    examples = dataset_examples(net, "conv2", images=photos, batch_size=8, top_k=4, progress=False,
                                should_stop=should_stop, on_progress=lambda done, total: progress.append((done, total)))
    assert not examples.complete and examples.images_scanned == 16
    assert progress == [(8, 45), (16, 45)]
    values, indices, _ = brute_force(net, "conv2", photos[:16], 4)
    np.testing.assert_array_equal(examples.image_indices, indices)
    again = dataset_examples(net, "conv2", images=photos, batch_size=8, top_k=4, progress=False)
    assert again.complete and again.images_scanned == 45  # the stopped scan was not cached as the answer


def test_save_writes_a_grid_with_one_row_per_filter(net, photos, tmp_path):
    examples = dataset_examples(net, "conv2", filters=[0, 4], images=photos, top_k=3, cache=False, progress=False)
    path = examples.save(tmp_path / "examples.png")
    from PIL import Image

    grid = np.asarray(Image.open(path))
    # 8 px patches enlarged to 96 px (a whole factor), 3 columns with 8 px margins.
    assert grid.shape[1] == 3 * 96 + 4 * 8
    assert isinstance(examples, Examples)


def test_the_package_exports_dataset_examples():
    assert actmax_widgets.dataset_examples is dataset_examples
    assert actmax_widgets.Examples is Examples


def test_progress_bar_without_tqdm_writes_one_line(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    bar = scan.ProgressBar(40)
    bar.update(8)
    bar.update(40)
    bar.close()
    err = capsys.readouterr().err
    assert "Scanning images: 40/40" in err and err.endswith("\n") and err.count("\n") == 1


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"layer": "nope"}, ValueError, ["layer='nope'", "Layers: image, conv1"]),
    ({"layer": 99}, ValueError, ["layer=99", "valid: 0..7"]),
    ({"layer": True}, TypeError, ["layer=True"]),
    ({"layer": "image"}, ValueError, ["layer='image'", "Pick a layer"]),
    ({"filters": [7]}, ValueError, ["filters", "7", "0..4"]),
    ({"filters": ["a"]}, TypeError, ["filters", "'a'"]),
    ({"filters": []}, ValueError, ["filters=[]"]),
    ({"top_k": 0}, ValueError, ["top_k=0", "at least 1"]),
    ({"top_k": 2.5}, TypeError, ["top_k=2.5"]),
    ({"batch_size": 0}, ValueError, ["batch_size=0"]),
    ({"image_size": 3}, ValueError, ["image_size=3"]),
    ({"should_stop": "yes"}, TypeError, ["should_stop"]),
    ({"input_range": (1, 0)}, ValueError, ["input_range"]),
])
def test_bad_arguments_name_argument_value_and_fix(net, photos, kwargs, error, words):
    arguments = {"model": net, "layer": "conv2", "images": photos[:2], "progress": False, "cache": False, **kwargs}
    with pytest.raises(error) as raised:
        dataset_examples(**arguments)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_a_one_dimensional_model_is_refused_clearly(conv1d_net):
    with pytest.raises(ValueError, match="dataset_examples scans images"):
        dataset_examples(conv1d_net, "conv1d_1", images=np.zeros((2, 32, 2)), progress=False)


def test_input_range_maps_the_pixels(net, photos):
    """A model trained on 0..1 sees 0..1: the same activations as the brute force on photos / 255."""
    examples = dataset_examples(net, "conv2", images=photos, input_range=(0, 1), top_k=2, cache=False,
                                progress=False)
    values, indices, _ = brute_force(net, "conv2", photos / 255.0, 2)
    np.testing.assert_allclose(examples.activations, values, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(examples.image_indices, indices)


def test_top_patch_of_a_filter_not_scanned_names_the_fix(net, photos):
    examples = dataset_examples(net, "conv2", filters=[0], images=photos[:2], cache=False, progress=False)
    with pytest.raises(ValueError, match=r"filter=3 was not scanned.*filters=\[3\]"):
        examples.top_patch(3)


def test_a_second_scan_of_the_layer_reuses_the_compiled_forward(net, photos, monkeypatch):
    built = []
    compile_forward = scan._compiled_forward
    monkeypatch.setattr(scan, "_compiled_forward", lambda *args: built.append(1) or compile_forward(*args))
    scan._FORWARDS.clear()
    dataset_examples(net, "conv2", filters=[0, 1], images=photos[:4], cache=False, progress=False)
    other = dataset_examples(net, "conv2", filters=[4], images=photos, top_k=3, cache=False, progress=False)
    assert len(built) == 1
    np.testing.assert_array_equal(other.image_indices[0], brute_force(net, "conv2", photos, 3)[1][4])


def test_a_resized_scan_sees_new_weights(any_size_net):
    """At a size other than the model's the cut is a copy with the weights of its time: never reused."""
    images = np.random.default_rng(3).integers(0, 256, (6, 24, 24, 3)).astype(np.uint8)
    layer = any_size_net.layers[-1].name
    before = dataset_examples(any_size_net, layer, images=images, image_size=24, cache=False, progress=False)
    conv = any_size_net.get_layer("conv2")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 2, bias * 2])
    after = dataset_examples(any_size_net, layer, images=images, image_size=24, cache=False, progress=False)
    np.testing.assert_allclose(after.activations, before.activations * 2, rtol=1e-4)


@pytest.mark.slow
def test_the_embedded_models_cat_and_espresso_units_find_their_photos_in_the_default_set():
    from actmax_widgets.models import efficientnet_lite0

    examples = dataset_examples(efficientnet_lite0(), "predictions", filters=[285, 967], top_k=3, progress=False)
    names = [[examples.image_names[i].split(" [")[0] for i in row] for row in examples.image_indices]
    assert names == [["chelsea.png"] * 3, ["coffee.png"] * 3]  # Egyptian cat, espresso
    assert examples.patches.shape == (2, 3, 224, 224, 3)
