"""Photo mode in a real browser (issue #13): upload a photo in the widget, see each tile's map on
it beside the synthetic image, and the enlarged view's photo | heatmap | synthetic side by side.

The embedded EfficientNet-Lite0 and scikit-image's coffee photo (an espresso cup on a saucer, the
table around it): a conv layer's filters fire on parts of the cup, and Grad-CAM of 'espresso'
must be hot on the cup and cold on the table below it (checked on the pixels the browser shows).
"""
from __future__ import annotations

from helpers import background_rgb, cell, cell_output, open_notebook, run_cell, screenshot, write_notebook
from PIL import Image
from playwright.sync_api import expect

SETUP = """import actmax_widgets  # first: TensorFlow's start-up lines stay out of the output
from actmax_widgets import ActMaxWidget
from actmax_widgets.models import efficientnet_lite0
model = efficientnet_lite0()"""
WIDGET = ("w = ActMaxWidget(model, layer='block6a_expand_activation', filters=list(range(8)), steps=6,\n"
          "                 image_size=64, prepare=False, precision='float32')\nw")
DENSE = "w.controls.layer.value = 'predictions'\nw.controls.filter_text.value = '967, 504'  # espresso, coffee mug"

# How much warmer (jet: red over blue) an image is on the cup (upper middle) than on the table
# below it, from the pixels the browser decoded.
_CUP_WARMTH = """(img) => {
  const canvas = document.createElement('canvas');
  const w = canvas.width = img.naturalWidth, h = canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const warmth = (x0, y0, x1, y1) => {
    const d = ctx.getImageData(x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i] - d[i + 2];
    return sum / (d.length / 4);
  };
  return warmth(0.3, 0.1, 0.7, 0.45) - warmth(0, 0.8, 1, 1);
}"""


def choose_file(output, page, file):
    """Click "Upload photo" and pick ``file`` in the browser's file chooser (ipywidgets' FileUpload
    keeps its <input type=file> out of the page, so it is reached through the chooser)."""
    with page.expect_file_chooser() as chooser:
        output.get_by_role("button", name="Upload photo").click()
    chooser.value.set_files(file)


def run_and_wait(output, page):
    """Press Run and wait until this run is done (the previous run's "done" goes first)."""
    output.get_by_role("button", name="Run").click()
    done = page.locator(".actmax-grid__progress--done")
    expect(done).to_have_count(0, timeout=60_000)
    expect(done).to_have_count(1, timeout=240_000)


def test_upload_a_photo_and_see_the_maps_beside_the_tiles(lab_server, page, tmp_path):
    import skimage.data

    photo = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(photo)
    write_notebook(lab_server.root_dir, "photo_mode.ipynb", [SETUP, WIDGET, DENSE])
    # Dark: the widget must follow JupyterLab's dark theme (checked below); light is
    # docs/widget-photo.png.
    open_notebook(page, lab_server, "photo_mode.ipynb", theme="dark")
    run_cell(page, 0, timeout=240_000)
    run_cell(page, 1, timeout=120_000)
    output = cell_output(page, 1)

    # Not a photo: said beside the button, by name.
    choose_file(output, page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"})
    expect(output).to_contain_text("'notes.txt' is not a PNG or JPEG image", timeout=30_000)

    choose_file(output, page, str(photo))
    bar = page.locator(".actmax-photo")
    expect(bar).to_be_visible(timeout=60_000)
    expect(bar.locator(".actmax-photo__prediction").first).to_have_text("espresso94%", timeout=60_000)
    expect(bar.locator(".actmax-photo__status")).to_contain_text("Press Run")

    # A conv layer: every tile gets its filter's map on the photo beside the synthetic image.
    run_and_wait(output, page)
    thumbs = page.locator(".actmax-photo__tile-thumb img")
    expect(thumbs).to_have_count(8, timeout=60_000)
    expect(bar.locator(".actmax-photo__status")).to_have_text(
        "Where each filter of block6a_expand_activation fires on your photo (red: strongest)")
    page.wait_for_function("() => [...document.querySelectorAll('.actmax-photo__tile-thumb img')]"
                           ".every((img) => img.complete && img.naturalWidth === 192)")
    grid = cell(page, 1).locator(".actmax-grid")
    assert sum(background_rgb(grid)) / 3 < 80, f"widget background {background_rgb(grid)} is not dark"
    grid.scroll_into_view_if_needed()
    screenshot(page, "photo-mode-1-conv-tiles")

    page.locator(".actmax-grid__tile[data-index]").nth(2).click()
    dialog = page.locator(".actmax-grid__dialog[open]")
    expect(dialog.locator(".actmax-photo__figure:visible figcaption")).to_have_text(
        ["Your photo", "Where filter 2 fires on your photo", "Synthetic: what excites filter 2 most"])
    expect(dialog.locator(".actmax-grid__zoom-frame")).to_be_hidden()
    screenshot(page, "photo-mode-2-conv-enlarged")
    page.keyboard.press("Escape")

    # A class layer: Grad-CAM and saliency of each class, named; Grad-CAM sits on the cup.
    run_cell(page, 2)
    run_and_wait(output, page)
    expect(thumbs).to_have_count(2, timeout=120_000)
    page.locator(".actmax-grid__tile[data-index]", has_text="espresso").click()
    figures = dialog.locator(".actmax-photo__figure:visible")
    expect(figures.locator("figcaption")).to_have_text(
        ["Your photo", "Grad-CAM: where the photo shows ‘espresso’",
         "Saliency: the pixels that change ‘espresso’ most", "Synthetic: what excites ‘espresso’ most"],
        timeout=60_000)
    heat = figures.nth(1).locator("img")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=heat.element_handle())
    assert heat.evaluate(_CUP_WARMTH) > 60
    screenshot(page, "photo-mode-3-class-enlarged")
