"""The widget on a small grayscale model built in the notebook, as a workshop attendee does it."""
from __future__ import annotations

from helpers import cell_output, open_notebook, run_all_cells, screenshot, write_notebook
from playwright.sync_api import expect

MNIST_LIKE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
from actmax_widgets import ActMaxWidget
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    layers.Conv2D(8, 3, activation="relu", name="conv"),
    layers.MaxPooling2D(name="pool"),
    layers.Flatten(name="flatten"),
    layers.Dense(10, name="digits"),
], name="my_mnist_net")
"""

# Per tile: natural width, the largest difference between its red, green and blue values at any
# pixel (0: gray), and the spread of its gray values (0: blank).
_TILE_GRAYNESS = """(imgs) => imgs.map(img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  if (!canvas.width) return {width: 0, tint: 255, spread: 0};
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let tint = 0, sum = 0, sq = 0, n = 0;
  for (let i = 0; i < data.length; i += 4) {
    tint = Math.max(tint, Math.abs(data[i] - data[i + 1]), Math.abs(data[i + 1] - data[i + 2]));
    sum += data[i]; sq += data[i] * data[i]; n++;
  }
  return {width: img.naturalWidth, tint, spread: Math.sqrt(sq / n - (sum / n) ** 2)};
})"""


def test_grayscale_model_built_in_the_notebook_shows_gray_tiles_at_its_own_size(lab_server, page):
    write_notebook(lab_server.root_dir, "own_model.ipynb", [
        MNIST_LIKE, "w = ActMaxWidget(model, layer='digits', steps=40)\nw", "w.run(blocking=True);"])
    open_notebook(page, lab_server, "own_model.ipynb")
    run_all_cells(page, timeout=180_000)
    output = cell_output(page, 1)
    expect(output.locator(".actmax-grid__progress--done")).to_have_count(1, timeout=120_000)
    tiles = output.locator(".actmax-grid__tile:not(.actmax-grid__tile--placeholder) img")
    expect(tiles).to_have_count(10)
    shown = tiles.evaluate_all(_TILE_GRAYNESS)
    assert all(tile["width"] == 28 for tile in shown), shown  # the model's own size
    assert all(tile["tint"] == 0 for tile in shown), shown  # gray, not tinted
    assert all(tile["spread"] > 3 for tile in shown), shown  # and not blank
    expect(output.locator(".actmax-grid__status")).to_contain_text("done")
    output.locator(".actmax-grid").scroll_into_view_if_needed()
    screenshot(page, "own-model-gray-tiles")

    output.get_by_text("Settings", exact=True).click()
    size = output.locator(".widget-inline-hbox:has(label:text-is('Image size')) input")
    expect(size).to_have_value("28")
    expect(output).to_contain_text("28×28 px only: 'flatten' before 'digits' fixes the size")
    screenshot(page, "own-model-size-note")
