"""photos.load_photo / fit_photo: every form of "my photo" gives the same array; bad ones a clear error."""
import io

import numpy as np
import pytest
from PIL import Image

from actmax_widgets import photos


def _picture():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)


def _png(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_path_bytes_pil_and_arrays_give_the_same_photo(tmp_path):
    picture = _picture()
    path = tmp_path / "photo.png"
    path.write_bytes(_png(picture))
    forms = [str(path), path, path.read_bytes(), Image.fromarray(picture), picture, picture[None],
             picture / 255.0, picture.astype("float32"),
             np.concatenate([picture, np.full((12, 20, 1), 7, np.uint8)], -1)]  # alpha dropped
    for form in forms:
        loaded = photos.load_photo(form)
        assert loaded.dtype == np.float32 and loaded.shape == (12, 20, 3)
        np.testing.assert_allclose(loaded, picture, atol=1e-3)


def test_gray_and_colour_convert_to_what_the_model_takes():
    gray = np.arange(12 * 20, dtype=np.uint8).reshape(12, 20)
    rgb = photos.load_photo(gray)
    assert rgb.shape == (12, 20, 3) and (rgb == gray[..., None]).all()
    back = photos.load_photo(rgb, channels=1)
    assert back.shape == (12, 20, 1)
    np.testing.assert_allclose(back[..., 0], gray, atol=1e-3)
    # A gray PNG file, too.
    assert photos.load_photo(_png(gray), channels=3).shape == (12, 20, 3)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    deep = (np.arange(4 * 4, dtype=np.uint16).reshape(4, 4) * 4000)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    loaded = photos.load_photo(path, channels=1)
    np.testing.assert_allclose(loaded[..., 0], deep / 257.0, rtol=1e-5)


@pytest.mark.parametrize("bad, error, words", [
    (np.zeros((5,)), ValueError, ["photo has shape (5,)", "(H, W, 3)"]),
    (np.zeros((3, 16, 16)), ValueError, ["shape (3, 16, 16)", "np.moveaxis(photo, 0, -1)"]),
    (np.zeros((16, 16, 2)), ValueError, ["shape (16, 16, 2)"]),
    (np.zeros((2, 8, 8, 3)), ValueError, ["holds 2 images", "photo[0]"]),
    (np.full((8, 8, 3), 300.0), ValueError, ["300", "outside 0..255"]),
    (np.full((8, 8, 3), -1.0), ValueError, ["-1", "outside 0..255"]),
    (np.full((8, 8, 3), np.nan), ValueError, ["NaN"]),
    (12, TypeError, ["photo=12", "file path"]),
    (b"not a picture at all", ValueError, ["not an image Pillow can read (PNG or JPEG)", "not a picture"]),
])
def test_bad_photos_name_the_value_and_the_fix(bad, error, words):
    with pytest.raises(error) as raised:
        photos.load_photo(bad)
    for word in words:
        assert word in str(raised.value)


def test_a_file_that_is_not_an_image_names_the_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ValueError, match=r"'notes.txt' is not an image Pillow can read \(PNG or JPEG\)"):
        photos.load_photo(notes, argument="seed_input")
    with pytest.raises(ValueError, match="seed_input='.*missing.png' is not a file"):
        photos.load_photo(tmp_path / "missing.png", argument="seed_input")


def test_too_many_pixels_refused_with_the_size_before_decoding(monkeypatch):
    monkeypatch.setattr(photos, "MAX_PIXELS", 100)
    with pytest.raises(ValueError, match=r"20 × 12 pixels .*resize it first"):
        photos.load_photo(_png(_picture()))
    with pytest.raises(ValueError, match=r"20 × 12 pixels"):
        photos.load_photo(_picture())


def test_channels_must_be_one_or_three():
    with pytest.raises(ValueError, match="channels=3"):
        photos.load_photo(_picture(), channels=4)


def test_fit_photo_centre_crops_then_resizes():
    photo = np.zeros((40, 80, 3), "float32")
    photo[:, 20:60] = 200.0  # the centre square
    fitted = photos.fit_photo(photo, 20)
    assert fitted.shape == (20, 20, 3) and fitted.dtype == np.float32
    np.testing.assert_allclose(fitted, 200.0)  # the sides were cropped, not squashed in
    tall = photos.fit_photo(np.ones((50, 10, 1), "float32"), (8, 4))
    assert tall.shape == (8, 4, 1)
    np.testing.assert_allclose(tall, 1.0, atol=1e-5)
