"""Evidence in the browser (issue #14): ActMaxWidget(model, images=...) on a small net built in the
notebook; after the run the scan finds each filter's natural patches; the enlarged view shows
them with their activations beside the synthetic image, with the sanity badges; the grid's
"Natural examples" toggle puts each filter's top patch under its tile."""
from __future__ import annotations

from helpers import cell_output, open_notebook, run_all_cells, screenshot, write_notebook
from PIL import Image
from playwright.sync_api import expect
from skimage import data

SMALL_NET = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import actmax_widgets  # first: quiets TensorFlow's start-up lines
import keras
from keras import layers
from actmax_widgets import ActMaxWidget
from actmax_widgets.evidence import default_images
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((48, 48, 3)),
    layers.Rescaling(1 / 127.5, offset=-1),
    layers.Conv2D(8, 3, activation="relu", name="conv1"),
    layers.MaxPooling2D(name="pool1"),
    layers.Conv2D(12, 3, activation="relu", name="conv2"),
    layers.GlobalAveragePooling2D(name="pool"),
    layers.Dense(4, name="out"),
], name="small_net")
"""
WIDGET = "w = ActMaxWidget(model, layer='conv2', filters=list(range(6)), steps=40, images=default_images())\nw"


def test_enlarged_view_shows_natural_patches_and_badges_and_the_toggle_puts_them_under_tiles(lab_server, page):
    write_notebook(lab_server.root_dir, "evidence.ipynb", [SMALL_NET, WIDGET, "w.run(blocking=True);"])
    open_notebook(page, lab_server, "evidence.ipynb")
    run_all_cells(page, timeout=240_000)
    output = cell_output(page, 1)
    expect(output.locator(".actmax-grid__progress--done")).to_have_count(1, timeout=120_000)
    status = output.locator(".actmax-evidence__status")
    expect(status).to_contain_text("natural examples: the top 9 of", timeout=120_000)
    tiles = output.locator(".actmax-grid__tile:not(.actmax-grid__tile--placeholder)")
    expect(tiles).to_have_count(6)

    tiles.nth(2).click()
    dialog = page.locator(".actmax-grid__dialog[open]")
    expect(dialog.locator(".actmax-evidence__heading")).to_have_text(
        "Natural image patches that excite filter 2 most")
    patches = dialog.locator(".actmax-evidence__strip .actmax-evidence__patch")
    expect(patches).to_have_count(9)
    values = [float(text) for text in patches.locator("figcaption").all_text_contents()]
    assert values == sorted(values, reverse=True) and values[0] > 0, values  # best first
    sizes = patches.locator("img").evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.clientWidth])")
    assert all(natural > 0 and shown >= 60 for natural, shown in sizes), sizes  # loaded, not tiny
    badges = dialog.locator(".actmax-evidence__badge")
    expect(badges.first).to_be_visible()
    names = badges.locator(".actmax-evidence__badge-name").all_text_contents()
    assert "Superstimulus" in names, names
    assert all(badges.nth(i).get_attribute("title") for i in range(badges.count()))  # each says what it means
    badges.first.hover()
    screenshot(page, "evidence-enlarged")

    # "Accentuate a photo…": the user's photo, then the filter raised in it.
    photo = lab_server.root_dir / "cat.png"
    Image.fromarray(data.chelsea()).save(photo)
    dialog.locator("input[type=file]").set_input_files(str(photo))
    expect(status).to_contain_text("filter 2 accentuated in your photo", timeout=120_000)
    expect(dialog.locator(".actmax-evidence__accent-text")).to_contain_text(
        "Filter 2 accentuated in your photo: activation ")
    shown = dialog.locator(".actmax-evidence__accent-result figure")
    expect(shown).to_have_count(3)
    assert shown.locator("figcaption").all_text_contents() == ["your photo", "accentuated", "where it changed"]
    dialog.evaluate("d => d.scrollTop = d.scrollHeight")
    screenshot(page, "evidence-accentuated")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    toggle = output.get_by_role("button", name="Natural examples")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    under = output.locator(".actmax-evidence__under:visible")
    expect(under).to_have_count(6)
    expect(under.first).to_contain_text("natural")
    # Each tile's patch sits inside that tile, under its caption.
    inside = tiles.evaluate_all("ts => ts.map(t => { const u = t.querySelector('.actmax-evidence__under');"
                                " const c = t.querySelector('.actmax-grid__caption');"
                                " return u.getBoundingClientRect().top >= c.getBoundingClientRect().bottom - 1; })")
    assert all(inside), inside
    output.locator(".actmax-grid").scroll_into_view_if_needed()
    screenshot(page, "evidence-grid-natural")
    toggle.click()
    expect(under).to_have_count(0)
