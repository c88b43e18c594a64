"""Where dataset_examples' images come from: folders (recursive), arrays, lists, tf.data, the
offline default set; gray and colour converted to the model's channels, small images enlarged,
unreadable files skipped with one warning, empty or unusable sets refused clearly (issue #14)."""
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from actmax_widgets.evidence import dataset_examples, default_images, image_sources


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTMAX_CACHE_DIR", str(tmp_path / "cache"))


def scan(model, images, layer="conv2", **options):
    return dataset_examples(model, layer, images=images, top_k=2, progress=False, **options)


def save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


@pytest.fixture
def gray_net():
    keras.utils.set_random_seed(5)
    image = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv1")(image)
    x = keras.layers.Conv2D(3, 3, name="conv2")(x)
    return keras.Model(image, x, name="gray_net")


def test_the_default_set_is_crops_of_the_offline_photos():
    images = default_images()
    assert len(images) == len(images.names) == 384
    photos = {name.split(" [")[0] for name in images.names}
    assert photos == {"astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                      "motorcycle_right.png", "hubble_deep_field.jpg", "camera.png", "coins.png", "moon.png",
                      "brick.png", "grass.png", "gravel.png", "china.jpg", "flower.jpg"}
    sides = {image.shape[0] for image in images}
    assert all(image.shape[0] == image.shape[1] and image.shape[2] == 3 and image.dtype == np.uint8
               for image in images)
    assert max(sides) >= 400 and min(sides) <= 150  # whole scenes and thirds
    assert default_images() is images  # loaded once per process


def test_the_default_set_is_scanned_when_images_are_left_out(conv_net):
    examples = dataset_examples(conv_net, "conv2", filters=[0], top_k=2, progress=False, batch_size=128)
    assert examples.images_scanned == 384 and examples.image_names[0].startswith("astronaut.png [")


def test_a_folder_is_searched_recursively_for_jpeg_and_png(conv_net, tmp_path):
    save(tmp_path / "a.png", noise((16, 16, 3)))
    save(tmp_path / "deep" / "er" / "b.JPG", noise((30, 20, 3), 1))
    save(tmp_path / "c.jpeg", noise((40, 40, 3), 2))
    (tmp_path / "notes.txt").write_text("not a photo")
    examples = scan(conv_net, tmp_path)
    assert examples.images_scanned == 3
    assert sorted(examples.image_names) == sorted(str(tmp_path / p) for p in ("a.png", "deep/er/b.JPG", "c.jpeg"))


def test_unreadable_files_are_skipped_with_one_warning_naming_them(conv_net, tmp_path):
    save(tmp_path / "good.png", noise((16, 16, 3)))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning) as caught:
        examples = scan(conv_net, tmp_path)
    assert len(caught) == 1
    assert "broken.jpg" in str(caught[0].message) and "empty.png" in str(caught[0].message)
    assert examples.images_scanned == 1 and examples.image_names == [str(tmp_path / "good.png")]


def test_a_folder_of_only_unreadable_files_is_an_error(conv_net, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"none of the 1 files could be read.*broken.png"):
            scan(conv_net, tmp_path)


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: tmp, ["holds no JPEG or PNG files", "recursively"]),
    (lambda tmp: tmp / "missing", ["not an existing folder", "folder of JPEG/PNG"]),
    (lambda tmp: save(tmp / "one.png", noise((8, 8, 3))), ["is a file, not a folder", "list of paths"]),
])
def test_a_folder_that_gives_no_images_names_it_and_the_fix(conv_net, tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(ValueError) as raised:
        scan(conv_net, str(path))
    assert f"images='{path}'" in str(raised.value)
    assert all(word in str(raised.value) for word in words)


def test_gray_images_for_an_rgb_model_are_repeated_to_rgb(conv_net):
    gray = noise((4, 16, 16))  # (N, H, W)
    examples = scan(conv_net, gray)
    patch = examples.patches[0, 0]
    assert patch.shape[-1] == 3
    np.testing.assert_array_equal(patch[..., 0], patch[..., 1])
    np.testing.assert_array_equal(patch[..., 0], patch[..., 2])


def test_rgb_images_for_a_gray_model_become_luma(gray_net):
    rgb = noise((3, 16, 16, 3))
    examples = scan(gray_net, rgb)
    assert examples.patches.shape[-1] == 1
    top, left, bottom, right = examples.where[0, 0]
    luma = rgb[examples.image_indices[0, 0]].astype("float32") @ np.array([0.299, 0.587, 0.114], "float32")
    np.testing.assert_allclose(examples.patches[0, 0, ..., 0], np.round(luma[top:bottom, left:right]), atol=1)


def test_lists_of_pil_images_arrays_and_paths(conv_net, tmp_path):
    path = save(tmp_path / "x.png", noise((16, 16, 3), 3))
    items = [Image.fromarray(noise((16, 16, 3), 4)), noise((16, 16, 3), 5), str(path)]
    examples = scan(conv_net, items)
    assert examples.images_scanned == 3 and examples.image_names == ["images[0]", "images[1]", "images[2]"]


def test_a_bad_array_in_a_list_names_its_place(conv_net):
    with pytest.raises(ValueError, match=r"images\[1\] has shape \(16, 16, 5\)"):
        scan(conv_net, [noise((16, 16, 3)), noise((16, 16, 5))])


def test_tf_data_of_images_pairs_and_batches(conv_net):
    import tensorflow as tf

    pixels = noise((5, 16, 16, 3), 6)
    plain = scan(conv_net, tf.data.Dataset.from_tensor_slices(pixels))
    pairs = scan(conv_net, tf.data.Dataset.from_tensor_slices((pixels, np.arange(5))).batch(2))
    reference = scan(conv_net, pixels)
    for examples in (plain, pairs):
        assert examples.images_scanned == 5
        np.testing.assert_array_equal(examples.image_indices, reference.image_indices)
        np.testing.assert_allclose(examples.activations, reference.activations, rtol=1e-5)


def test_a_dataset_of_dicts_names_the_fix(conv_net):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices({"image": noise((2, 16, 16, 3))})
    with pytest.raises(TypeError, match=r"yields dicts \(\['image'\]\).*x\['image'\]"):
        scan(conv_net, dataset)


def test_float_images_in_0_1_are_read_as_0_255(conv_net):
    pixels = noise((4, 16, 16, 3), 7)
    as_floats = scan(conv_net, pixels / 255.0)
    np.testing.assert_array_equal(as_floats.image_indices, scan(conv_net, pixels).image_indices)


def test_a_near_black_image_in_a_0_255_float_set_stays_near_black():
    images = noise((3, 8, 8, 3), 11).astype("float32")  # a 0..255 float set...
    images[1] = np.linspace(0, 1, 8 * 8 * 3).reshape(8, 8, 3)  # ...holding one near-black image
    (batch,) = image_sources.iterate(images, (8, 8), batch_size=3)
    assert batch.images[1].max() <= 1  # not brightened 255x as if it alone were a 0..1 image
    np.testing.assert_allclose(batch.images[0], images[0], atol=0.5)


def test_images_smaller_than_the_model_are_enlarged_to_its_size(conv_net):
    small = noise((3, 6, 6, 3), 8)
    examples = scan(conv_net, small)
    assert examples.image_size == (16, 16) and examples.images_scanned == 3
    assert examples.patches.shape[2:] == (5, 5, 3)  # two 3 x 3 convs: a 5 px field on the enlarged image


def test_a_field_larger_than_the_image_gives_the_whole_image(tmp_path):
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(2, 9, padding="same", name="c1")(image)
    x = keras.layers.Conv2D(2, 9, padding="same", name="c2")(x)
    model = keras.Model(image, x)
    examples = scan(model, noise((3, 16, 16, 3), 9), layer="c2")
    assert examples.receptive_field == (17, 17)
    assert examples.patches.shape[2:4] == (16, 16) and examples.where[0, 0].tolist() == [0, 0, 16, 16]


@pytest.mark.parametrize(("images", "error", "words"), [
    (42, TypeError, ["images=42", "folder path"]),
    ([], ValueError, ["images=[]", "offline default"]),
    (np.zeros((0, 16, 16, 3)), ValueError, ["no images"]),
    (np.zeros((16, 16)), ValueError, ["shape (16, 16)", "(N, H, W, C)"]),
])
def test_other_bad_image_sets_name_the_fix(conv_net, images, error, words):
    with pytest.raises(error) as raised:
        scan(conv_net, images)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_iterate_streams_batches_at_the_size(tmp_path):
    for i in range(5):
        save(tmp_path / f"{i}.png", noise((10 + i, 20, 3), i))
    batches = list(image_sources.iterate(str(tmp_path), (8, 8), batch_size=2))
    assert [batch.images.shape for batch in batches] == [(2, 8, 8, 3), (2, 8, 8, 3), (1, 8, 8, 3)]
    assert batches[0].images.dtype == np.float32


def test_the_reader_thread_ends_when_the_scan_stops(conv_net):
    import threading

    images = noise((40, 16, 16, 3), 10)
    examples = dataset_examples(conv_net, "conv2", images=images, batch_size=4, progress=False,
                                should_stop=lambda: True)
    assert examples.images_scanned == 0 and not examples.complete and examples.patches.shape[1] == 0
    assert not [t for t in threading.enumerate() if t.name == "actmax-image-reader"]


def test_submodules_are_attributes_of_the_package_as_if_imported_eagerly():
    import subprocess
    import sys

    code = ("import sys, actmax_widgets.evidence as e; print(e.image_sources.SUFFIXES[0], "
            "'tensorflow' in sys.modules); e.nope")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == [".jpg", "False"]
    assert "has no attribute 'nope'" in done.stderr


def test_an_empty_dataset_is_a_clear_error(conv_net):
    import tensorflow as tf

    with pytest.raises(ValueError, match="the dataset yielded no images"):
        scan(conv_net, tf.data.Dataset.from_tensor_slices(noise((3, 16, 16, 3))).take(0))
