"""Re-take the README's widget screenshots in JupyterLab 4 and headless Chromium.

    .venv/bin/python tools/readme_screenshots.py

docs/widget.png: the widget on the embedded model mid-run (status line, progress, elapsed time).
docs/widget-states.png: what a workshop sees around a run — at Run (a placeholder per requested
tile, "preparing the model…") and after picking another layer (the tiles kept, faded, and said to
be the previous layer's). Uses the browser tests' harness (tests/browser/helpers.py).
docs/widget-evidence.png: the enlarged view with its evidence (issue #14): the natural patches
that excite the filter most, the sanity badges (one tooltip shown), "Accentuate a photo"; with
``evidence`` as the argument, only this one is re-taken.
docs/widget-photo.png: photo mode (issue #13) on scikit-image's coffee photo: each tile's map on
the photo beside its synthetic image, the top-5, and the enlarged view's photo | heatmap |
synthetic; with ``photo`` as the argument, only this one is re-taken.
"""
from __future__ import annotations

import contextlib
import pathlib
import sys
import tempfile

from PIL import Image
from playwright.sync_api import expect, sync_playwright

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import helpers  # noqa: E402

SETUP = """from actmax_widgets import ActMaxWidget
from actmax_widgets.models import efficientnet_lite0
model = efficientnet_lite0()"""
WIDGET = "w = ActMaxWidget(model, layer='block3a_expand_activation', filters=list(range(12)))\nw"
MID_RUN = ("() => { const s = document.querySelector('.actmax-grid__status-text');"
           " const m = s && s.textContent.match(/step (\\d+)\\/(\\d+)/); return m && +m[1] >= 0.55 * +m[2]; }")


@contextlib.contextmanager
def lab_page(scratch, name, cells):
    """A JupyterLab page in headless Chromium with notebook ``name`` (``cells``) open."""
    server = helpers.start_jupyter_server("lab", scratch / f"{name}-server")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=helpers.CHROMIUM, headless=True,
                                                 args=helpers.CHROMIUM_ARGS)
            page = browser.new_context(viewport=helpers.VIEWPORT, device_scale_factor=1).new_page()
            page.set_default_timeout(60_000)
            helpers.write_notebook(server.root_dir, f"{name}.ipynb", cells)
            helpers.open_notebook(page, server, f"{name}.ipynb")
            yield page
            browser.close()
    finally:
        server.stop()


def widget_crop(page, path):
    """The widget's output area only (controls and grid), as a PNG."""
    page.locator(".jp-OutputArea-output").filter(has=page.locator(".actmax-grid")).first.screenshot(path=str(path))
    return Image.open(path).convert("RGB")


def side_by_side(images, path, gap=16):
    height = max(image.height for image in images)
    canvas = Image.new("RGB", (sum(image.width for image in images) + gap * (len(images) - 1), height), "white")
    left = 0
    for image in images:
        canvas.paste(image, (left, 0))
        left += image.width + gap
    canvas.save(path)


EVIDENCE_TILE = 3  # filter 3: a fine texture, its natural patches stripes of brick
EVIDENCE_WIDGET = ("from actmax_widgets.evidence import default_images\n"
                   "w = ActMaxWidget(model, layer='block3a_expand_activation', filters=list(range(12)), "
                   "images=default_images())\nw")


def evidence_shot(scratch, path):
    """Run, let the scan of the offline photos finish, open a tile with its evidence."""
    with lab_page(scratch, "evidence", [SETUP, EVIDENCE_WIDGET, "w.run(blocking=True);"]) as page:
        helpers.run_all_cells(page, timeout=600_000)
        output = helpers.cell_output(page, 1)
        expect(output.locator(".actmax-evidence__status")).to_contain_text("natural examples: the top",
                                                                           timeout=300_000)
        output.locator(".actmax-grid__tile").nth(EVIDENCE_TILE).click()
        dialog = page.locator(".actmax-grid__dialog[open]")
        expect(dialog.locator(".actmax-evidence__strip img")).to_have_count(9)
        dialog.locator(".actmax-evidence__badge").first.hover()
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))


PHOTO_TILE = 2  # block6a_expand_activation filter 2 fires on the cup's rim and the saucer
PHOTO_WIDGET = ("import skimage.data\n"
                "w = ActMaxWidget(model, layer='block6a_expand_activation', filters=list(range(8)), "
                "photo=skimage.data.coffee())\nw")


def photo_shot(scratch, path):
    """Run with a photo, crop the grid with its maps, and beside it the enlarged view of one tile."""
    with lab_page(scratch, "photo", [SETUP, PHOTO_WIDGET]) as page:
        helpers.run_all_cells(page, timeout=600_000)
        output = helpers.cell_output(page, 1)
        output.get_by_role("button", name="Run").click()
        expect(page.locator(".actmax-grid__progress--done")).to_have_count(1, timeout=600_000)
        expect(page.locator(".actmax-photo__tile-thumb img")).to_have_count(8, timeout=60_000)
        page.locator(".actmax-grid").screenshot(path=str(scratch / "photo-grid.png"))
        output.locator(".actmax-grid__tile[data-index]").nth(PHOTO_TILE).click()
        page.locator(".actmax-grid__dialog[open] .actmax-photo__strip").wait_for()
        page.locator(".actmax-grid__dialog[open] .actmax-grid__zoom").screenshot(path=str(scratch / "photo-zoom.png"))
    grid, zoom = (Image.open(scratch / name).convert("RGB") for name in ("photo-grid.png", "photo-zoom.png"))
    side_by_side([grid, zoom.crop((0, 0, zoom.width, min(zoom.height, grid.height)))], path)


def main():
    docs = ROOT / "docs"
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        with lab_page(scratch, "readme", [SETUP, WIDGET]) as page:
            for index in range(2):
                helpers.run_cell(page, index, timeout=240_000)
            output = helpers.cell_output(page, 1)
            output.get_by_role("button", name="Run").click()
            expect(page.locator(".actmax-grid__tile--placeholder")).to_have_count(12, timeout=10_000)
            page.wait_for_timeout(1500)  # the elapsed time has ticked
            preparing = widget_crop(page, scratch / "preparing.png")
            page.wait_for_function(MID_RUN, timeout=300_000)
            helpers.cell(page, 1).scroll_into_view_if_needed()
            page.screenshot(path=str(docs / "widget.png"))
            expect(page.locator(".actmax-grid__progress--done")).to_have_count(1, timeout=300_000)
            output.get_by_placeholder("search layers…").fill("block4c_add")
            expect(page.locator(".actmax-grid__stale")).to_be_visible(timeout=10_000)
            previous = widget_crop(page, scratch / "previous.png")
            side_by_side([preparing, previous], docs / "widget-states.png")
        evidence_shot(scratch, docs / "widget-evidence.png")
        photo_shot(scratch, docs / "widget-photo.png")
    print(docs / "widget.png", docs / "widget-states.png", docs / "widget-evidence.png", docs / "widget-photo.png")


if __name__ == "__main__":
    if sys.argv[1:] == ["evidence"]:
        with tempfile.TemporaryDirectory() as scratch_dir:
            evidence_shot(pathlib.Path(scratch_dir), ROOT / "docs" / "widget-evidence.png")
        print(ROOT / "docs" / "widget-evidence.png")
    elif sys.argv[1:] == ["photo"]:
        with tempfile.TemporaryDirectory() as scratch_dir:
            photo_shot(pathlib.Path(scratch_dir), ROOT / "docs" / "widget-photo.png")
        print(ROOT / "docs" / "widget-photo.png")
    else:
        main()
