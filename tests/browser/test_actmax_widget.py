"""ActMaxWidget end to end: JupyterLab / Notebook 7 in headless Chromium, the real model.

The JupyterLab notebooks here share one kernel (``lab_kernel``): TensorFlow is imported and the
model loaded once for the file, not once per notebook; each notebook still makes its own widget."""
from __future__ import annotations

import re
import time

import pytest
from helpers import (attach_notebook, cell_output, open_notebook, run_all_cells, run_cell, screenshot,
                     start_shared_kernel, stop_shared_kernel, write_notebook)
from playwright.sync_api import expect

SETUP = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from actmax_widgets import ActMaxWidget
from actmax_widgets.models import efficientnet_lite0
if "LITE0" not in globals():  # the kernel is shared by this file's notebooks: load it once
    LITE0 = efficientnet_lite0()
model = LITE0
"""

# A tile's <img> drawn to a canvas: its RGBA bytes (empty for an image not loaded).
_PIXELS_OF = """const pixelsOf = (img) => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  if (!canvas.width) return new Uint8ClampedArray(0);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
};"""

# Each tile's pixel standard deviation (0 for a blank image).
_TILE_PIXEL_SPREAD = "(imgs) => { " + _PIXELS_OF + """
  return imgs.map(img => {
    const data = pixelsOf(img);
    if (!data.length) return 0;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < data.length; i += 4) { const v = data[i] + data[i + 1] + data[i + 2]; sum += v; sq += v * v; n++; }
    const mean = sum / n; return Math.sqrt(sq / n - mean * mean);
  });
}"""

# The smallest mean absolute pixel difference between any two tiles' images (0: two are equal).
_TILE_MIN_DIFFERENCE = "(imgs) => { " + _PIXELS_OF + """
  const pixels = imgs.map(pixelsOf);
  let smallest = Infinity;
  for (let i = 0; i < pixels.length; i++) for (let j = i + 1; j < pixels.length; j++) {
    if (pixels[i].length !== pixels[j].length || !pixels[i].length) return 0;
    let sum = 0;
    for (let k = 0; k < pixels[i].length; k++) sum += Math.abs(pixels[i][k] - pixels[j][k]);
    smallest = Math.min(smallest, sum / pixels[i].length);
  }
  return smallest;
}"""


def tiles(page):
    return page.locator(".actmax-grid__tile:not(.actmax-grid__tile--placeholder)")


def wait_for_state(page, state, timeout=120_000):
    expect(page.locator(f".actmax-grid__progress--{state}")).to_have_count(1, timeout=timeout)


@pytest.fixture(scope="module")
def lab_kernel(lab_server):
    """The kernel this file's JupyterLab notebooks share (its id)."""
    kernel_id = start_shared_kernel(lab_server)
    yield kernel_id
    stop_shared_kernel(lab_server, kernel_id)


def open_on_kernel(page, server, name, kernel_id=None):
    """Open notebook ``name``, on ``kernel_id`` where given (else on a kernel of its own)."""
    if kernel_id is not None:
        attach_notebook(server, name, kernel_id)
    open_notebook(page, server, name)


def run_widget_to_done(server, page, name, widget, kernel_id=None):
    """A notebook that shows ``w = <widget>`` and runs it blocking, opened and run to "done"."""
    write_notebook(server.root_dir, name, [SETUP, f"w = {widget}\nw", "w.run(blocking=True)"])
    open_on_kernel(page, server, name, kernel_id)
    run_all_cells(page, timeout=180_000)
    wait_for_state(page, "done")


@pytest.fixture
def dialogs(page):
    """Every JavaScript dialog (alert, confirm) the page opens: an XSS would show up here."""
    seen = []
    page.on("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
    return seen


def test_widget_runs_shows_16_image_tiles_and_enlarges_one(lab_server, lab_kernel, page, dialogs):
    write_notebook(lab_server.root_dir, "run.ipynb", [
        SETUP,
        "w = ActMaxWidget(model, layer='block3a_expand_activation', steps=30, image_size=64)\nw",
        "started = __import__('time').perf_counter(); w.run()",
    ])
    open_on_kernel(page, lab_server, "run.ipynb", lab_kernel)
    run_all_cells(page, timeout=180_000)
    expect(tiles(page)).to_have_count(16, timeout=120_000)
    screenshot(page, "widget-light-running")
    wait_for_state(page, "done")
    spreads = page.locator(".actmax-grid__tile img").evaluate_all(_TILE_PIXEL_SPREAD)
    assert len(spreads) == 16 and min(spreads) > 5, spreads
    expect(page.locator(".actmax-grid__status")).to_contain_text("done")
    expect(page.locator(".actmax-grid__layer")).to_have_text("block3a_expand_activation")
    screenshot(page, "widget-light-done")

    tiles(page).nth(2).click()
    dialog = page.locator(".actmax-grid__dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".actmax-grid__zoom-img")).to_be_visible()
    expect(dialog.locator(".actmax-grid__chart-line")).to_have_count(1)
    expect(dialog).to_contain_text("2")
    screenshot(page, "widget-light-enlarged")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert dialogs == []


def test_stop_mid_run_and_change_layer_from_the_controls(lab_server, lab_kernel, page):
    write_notebook(lab_server.root_dir, "stop.ipynb", [
        SETUP,
        "w = ActMaxWidget(model, layer='block2a_expand_activation', steps=1000, image_size=64)\nw",
    ])
    open_on_kernel(page, lab_server, "stop.ipynb", lab_kernel)
    run_all_cells(page, timeout=180_000)
    output = cell_output(page, 1)
    output.get_by_role("button", name="Run").click()
    expect(tiles(page)).to_have_count(16, timeout=120_000)
    stop = output.get_by_role("button", name="Stop")
    clicked = time.perf_counter()
    stop.click()
    wait_for_state(page, "stopped", timeout=30_000)
    stop_seconds = time.perf_counter() - clicked
    expect(page.locator(".actmax-grid__status")).to_contain_text("stopped at")
    expect(tiles(page)).to_have_count(16)  # what was reached is kept
    screenshot(page, "widget-light-stopped")
    print(f"stop click -> stopped state in the page: {stop_seconds:.2f} s")

    # Pick another layer in the picker: the stopped tiles keep their own layer's name, marked
    # as from the previous layer, until Run brings the new layer's tiles.
    output.locator("select").first.select_option(label="block1a_project_conv — conv 16 ch")
    expect(page.locator(".actmax-grid__stale")).to_contain_text("Press Run to show block1a_project_conv")
    expect(page.locator(".actmax-grid__layer")).to_have_text("block2a_expand_activation")
    output.get_by_role("button", name="Run").click()
    expect(page.locator(".actmax-grid__layer")).to_have_text("block1a_project_conv")
    expect(page.locator(".actmax-grid__stale")).to_be_hidden()
    wait_for_state(page, "running", timeout=120_000)
    output.get_by_role("button", name="Stop").click()
    wait_for_state(page, "stopped", timeout=60_000)
    expect(tiles(page)).to_have_count(16)


def test_settings_show_every_choice_by_name(lab_server, lab_kernel, page):
    """Opened Settings name each dropdown's choice: no blank where the choice is "none"."""
    write_notebook(lab_server.root_dir, "settings.ipynb", [
        SETUP, "w = ActMaxWidget(model, layer='block3a_expand_activation', steps=128, prepare=False)\nw"])
    open_on_kernel(page, lab_server, "settings.ipynb", lab_kernel)
    run_all_cells(page, timeout=180_000)
    output = cell_output(page, 1)
    output.get_by_text("Settings", exact=True).click()
    shown = {}
    for name in ("Grad modifier", "Backprop", "Precision"):
        select = output.locator(f".widget-dropdown:has(label:text-is('{name}')) select")
        expect(select).to_be_visible()
        shown[name] = select.evaluate("s => s.selectedIndex >= 0 ? s.options[s.selectedIndex].text.replace(/\u00a0/g, ' ') : ''")
    assert shown == {"Grad modifier": "none", "Backprop": "none", "Precision": "auto (bfloat16 where faster)"}, shown
    steps = output.locator(".widget-slider:has(label:text-is('Steps')) .widget-readout")
    expect(steps).to_have_text("128")  # as set from code, not rounded to the slider's step
    screenshot(page, "widget-settings")


def test_model_strings_render_as_text_never_as_html(lab_server, lab_kernel, page, dialogs):
    # TensorFlow cannot run a layer with such a name (its name scopes refuse it), but the widget
    # must still list and show it safely; labels with markup go through a grid directly.
    write_notebook(lab_server.root_dir, "xss.ipynb", [
        "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nimport keras\nfrom keras import layers\n"
        "from actmax_widgets import ActMaxWidget\n"
        "inputs = keras.Input((32, 32, 3))\n"
        "x = layers.Conv2D(4, 3, activation='relu', name='<img src=x onerror=alert(1)>')(inputs)\n"
        "model = keras.Model(inputs, x)",
        "ActMaxWidget(model)",
        "import numpy as np\nfrom actmax_widgets import render\nfrom actmax_widgets.widget import GridWidget\n"
        "grid = GridWidget(layer_name='<b>layer</b>', state='done')\n"
        "tile = render.to_png(np.random.default_rng(0).integers(0, 255, (32, 32, 3)))\n"
        "grid.set_tiles([tile, tile], [{'filter': 0, 'label': '<script>alert(2)</script>'},\n"
        "                              {'filter': 1, 'label': '<img src=y onerror=alert(3)>'}])\n"
        "grid",
    ])
    open_on_kernel(page, lab_server, "xss.ipynb", lab_kernel)
    run_all_cells(page, timeout=120_000)
    first, second = page.locator(".actmax-grid").nth(0), page.locator(".actmax-grid").nth(1)
    expect(first.locator(".actmax-grid__layer")).to_have_text("<img src=x onerror=alert(1)>")
    expect(cell_output(page, 1).locator("select option").first).to_have_text(
        "<img src=x onerror=alert(1)> — conv 4 ch")
    expect(second.locator(".actmax-grid__layer")).to_have_text("<b>layer</b>")
    expect(second.locator(".actmax-grid__tile").nth(0)).to_contain_text("<script>alert(2)</script>")
    expect(second.locator(".actmax-grid__tile").nth(1)).to_contain_text("<img src=y onerror=alert(3)>")
    assert page.locator("img[src='x'], img[src='y'], .actmax-grid b, .actmax-grid script").count() == 0
    page.wait_for_timeout(500)
    screenshot(page, "widget-xss-strings")
    assert dialogs == []


def test_notebook7_shows_the_widget(notebook7_server, page):
    run_widget_to_done(notebook7_server, page, "nb7.ipynb",
                       "ActMaxWidget(model, layer='block3a_expand_activation', steps=10, image_size=64)")
    expect(tiles(page)).to_have_count(16)
    screenshot(page, "widget-notebook7")


def test_enlarged_tile_asks_for_4_diverse_images_of_its_filter(lab_server, lab_kernel, page):
    run_widget_to_done(lab_server, page, "diverse.ipynb",
                       "ActMaxWidget(model, layer='block2a_expand_activation', filters=[0, 1, 2, 3], steps=20, "
                       "image_size=64)", lab_kernel)
    expect(tiles(page)).to_have_count(4)

    tiles(page).nth(2).click()
    dialog = page.locator(".actmax-grid__dialog[open]")
    diverse = dialog.get_by_role("button", name="4 diverse images")
    diverse.focus()
    page.keyboard.press("Enter")  # keyboard reachable, like a click
    expect(dialog).to_have_count(0)
    expect(tiles(page).locator(".actmax-grid__label")).to_have_text(
        ["2 · #1", "2 · #2", "2 · #3", "2 · #4"], timeout=120_000)
    wait_for_state(page, "done")
    output = cell_output(page, 1)
    expect(output.get_by_role("button", name="Diverse")).to_have_class(re.compile("mod-active"))
    difference = page.locator(".actmax-grid__tile img").evaluate_all(_TILE_MIN_DIFFERENCE)
    assert difference > 5, f"two of the diverse images are nearly the same (mean |diff| {difference:.1f})"

    tiles(page).nth(1).click()
    expect(dialog.locator(".actmax-grid__zoom-title")).to_have_text("Filter 2 · #2")
    expect(dialog.get_by_role("button", name="4 diverse images")).to_be_hidden()
    screenshot(page, "widget-diverse-enlarged")
    dialog.get_by_role("button", name="Back to page").click()
    expect(tiles(page).locator(".actmax-grid__label").first).to_have_text("0", timeout=120_000)
    wait_for_state(page, "done")
    expect(tiles(page)).to_have_count(16)
