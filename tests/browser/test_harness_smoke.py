"""Smoke tests of the browser harness itself: ipywidgets and anywidget render in JupyterLab (light
and dark) and Notebook 7, and the kernel is this venv's Python."""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import expect

from helpers import (cell_output, open_notebook, run_all_cells, run_cell, screenshot,
                     write_notebook)

pytestmark = pytest.mark.browser

SLIDER = 'import ipywidgets as w; w.IntSlider(value=7, description="seven")'
EXECUTABLE = "import sys; print(sys.executable)"
ANYWIDGET = '''import anywidget, traitlets
class W(anywidget.AnyWidget):
    _esm = "export default { render({model, el}) { el.classList.add('smoke-any'); el.textContent = 'hello ' + model.get('x'); } }"
    x = traitlets.Unicode('anywidget').tag(sync=True)
W()'''
CELLS = [SLIDER, EXECUTABLE, ANYWIDGET]


def _check_outputs(page):
    slider = cell_output(page, 0).locator(".widget-slider")
    expect(slider).to_be_visible(timeout=30_000)
    expect(slider).to_contain_text("seven")
    expect(slider.locator(".widget-readout")).to_contain_text("7")
    expect(cell_output(page, 1)).to_contain_text(sys.executable)
    expect(cell_output(page, 2).locator(".smoke-any")).to_have_text("hello anywidget", timeout=30_000)
    # Nothing covering the page: no dialog, no toast.
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.locator(".Toastify__toast")).to_have_count(0)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_lab_renders_widgets(lab_server, page, theme):
    name = f"smoke_lab_{theme}.ipynb"
    write_notebook(lab_server.root_dir, name, CELLS)
    secs = open_notebook(page, lab_server, name, theme=theme)
    print(f"lab server up in {lab_server.startup_s:.1f} s; page+kernel idle in {secs:.1f} s")
    run_all_cells(page)
    _check_outputs(page)
    bg = page.evaluate("() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor")
    rgb = [int(v) for v in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert (sum(rgb) / 3 < 80) if theme == "dark" else (sum(rgb) / 3 > 200), bg
    screenshot(page, f"smoke-lab-{theme}")


def test_notebook7_renders_widgets(notebook7_server, page):
    name = "smoke_nb7.ipynb"
    write_notebook(notebook7_server.root_dir, name, CELLS)
    secs = open_notebook(page, notebook7_server, name)
    print(f"notebook7 server up in {notebook7_server.startup_s:.1f} s; page+kernel idle in {secs:.1f} s")
    # Shift+Enter path, one cell at a time.
    for i in range(len(CELLS)):
        run_cell(page, i)
    _check_outputs(page)
    screenshot(page, "smoke-notebook7")
