"""The widget in a workshop (issue #18): never silent, never stale, never broken by the next cell.

One notebook per front-end (JupyterLab 4, Notebook 7) with a small model built in the cell, so
the run is short but its step still takes a moment to trace:

1. Run: the grid shows at once that it works (placeholders for the requested tiles, the
   "Preparing" badge, "preparing the model for layer …", time ticking in the browser).
2. Another layer in the search box: the tiles keep their own layer's name, are marked as from
   the previous layer, and the enlarged tile says so.
3. "4 diverse images": "Starting" at the click, then the old tiles go and four captioned
   placeholders come.
4. ``w.run(blocking=True)`` in the next cell while the widget's run goes on: that run is stopped
   and the cell's own run is done.
"""
from __future__ import annotations

import pytest
from helpers import cell_output, open_notebook, run_cell, screenshot, write_notebook
from playwright.sync_api import expect

MODEL = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
from actmax_widgets import ActMaxWidget
keras.utils.set_random_seed(0)
x = inputs = keras.Input((None, None, 3))
for i in range(1, 9):
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
model = keras.Model(inputs, x, name="eight_convs")
"""
WIDGET = ("w = ActMaxWidget(model, layer='conv_3', filters=[0, 1, 2, 3], steps=400, image_size=64,\n"
          "                 prepare=False, precision='float32')\nw")
NEXT_CELL = ("w.controls.steps.value = 30\nresult = w.run(blocking=True)\n"
             "print('ran', result.layer_name, result.targets, result.steps, 'stopped' if result.stopped else 'done')")

# Records every distinct look of the grid (badge, status, elapsed time, placeholder captions,
# tile count, header) from now on: states that last a fraction of a second are seen too.
_RECORD = """() => {
  const root = document.querySelector('.actmax-grid');
  const text = (selector) => root.querySelector(selector)?.textContent ?? '';
  const read = () => ({
    badge: text('.actmax-grid__state'),
    status: text('.actmax-grid__status-text'),
    elapsed: text('.actmax-grid__elapsed'),
    placeholders: [...root.querySelectorAll('.actmax-grid__tile--placeholder')].map((p) => p.textContent),
    tiles: root.querySelectorAll('.actmax-grid__tile[data-index]').length,
    layer: text('.actmax-grid__layer'),
  });
  window.gridLog = [];
  const push = () => {
    const now = read();
    if (JSON.stringify(now) !== JSON.stringify(window.gridLog.at(-1))) window.gridLog.push(now);
  };
  push();
  new MutationObserver(push).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def tiles(page):
    return page.locator(".actmax-grid__tile[data-index]")


def wait_for_state(page, state, timeout=120_000):
    expect(page.locator(f".actmax-grid__progress--{state}")).to_have_count(1, timeout=timeout)


def badge_changes(page):
    """The grid's looks at which its badge changed since recording began (the first excluded)."""
    log = page.evaluate("() => window.gridLog")
    return [entry for before, entry in zip(log, log[1:]) if entry["badge"] != before["badge"]], log


@pytest.mark.parametrize("kind", ["lab", "notebook7"])
def test_widget_is_never_silent_never_stale_and_survives_the_next_cell(jupyter_server_factory, page, kind):
    server = jupyter_server_factory(kind)
    name = f"run_states_{kind}.ipynb"
    write_notebook(server.root_dir, name, [MODEL, WIDGET, NEXT_CELL])
    open_notebook(page, server, name)
    run_cell(page, 0, timeout=180_000)
    run_cell(page, 1, timeout=120_000)
    output = cell_output(page, 1)
    expect(page.locator(".actmax-grid")).to_be_visible(timeout=60_000)

    # 1. Run: working at once, time ticking, then the tiles.
    page.evaluate(_RECORD)
    output.get_by_role("button", name="Run").click()
    screenshot(page, f"run-states-{kind}-1-preparing")
    expect(tiles(page)).to_have_count(4, timeout=120_000)
    changes, log = badge_changes(page)
    change = changes[0]
    assert change["badge"] == "Preparing", log
    assert change["status"] == "preparing the model for layer conv_3…" and change["tiles"] == 0, log
    assert change["placeholders"] == ["0", "1", "2", "3"] and change["layer"] == "conv_3", log
    page.wait_for_function("() => window.gridLog.some((e) => /^\\d+ s$/.test(e.elapsed) && e.elapsed !== '0 s')",
                           timeout=60_000)
    screenshot(page, f"run-states-{kind}-1-running")

    # 4. The next cell runs while the widget's run goes on: no "A run is in progress" error.
    run_cell(page, 2, timeout=180_000)
    expect(cell_output(page, 2)).to_contain_text("ran conv_3 [0, 1, 2, 3] 30 done")
    expect(cell_output(page, 2)).not_to_contain_text("Error")
    wait_for_state(page, "done")

    # 2. Another layer through the search box (it selects the first match): the tiles keep
    # their own layer's name and are marked as from the previous layer.
    output.get_by_placeholder("search layers…").fill("conv_6")
    expect(output.locator("select").first).to_have_value("conv_6 — conv 8 ch")
    grid = page.locator(".actmax-grid")
    expect(grid).to_have_attribute("data-stale", "true")
    expect(grid.locator(".actmax-grid__layer")).to_have_text("conv_3")
    expect(grid.locator(".actmax-grid__stale")).to_have_text(
        "These tiles are from conv_3, the previous layer. Press Run to show conv_6.")
    screenshot(page, f"run-states-{kind}-2-previous-layer")
    tiles(page).nth(1).click()
    dialog = page.locator(".actmax-grid__dialog[open]")
    expect(dialog.locator(".actmax-grid__zoom-title")).to_have_text("Filter 1")
    expect(dialog.locator(".actmax-grid__zoom-subtitle")).to_have_text("conv_3 · conv 8 ch · previous layer")
    screenshot(page, f"run-states-{kind}-2-previous-layer-enlarged")

    # 3. "4 diverse images": "Starting" at the click, then the old tiles go and four captioned
    # placeholders come.
    page.evaluate(_RECORD)
    dialog.get_by_role("button", name="4 diverse images").click()
    expect(tiles(page).locator(".actmax-grid__label")).to_have_text(
        ["1 · #1", "1 · #2", "1 · #3", "1 · #4"], timeout=120_000)
    changes, log = badge_changes(page)
    # Said in the browser at the click, before the kernel answers; then the run's placeholders.
    assert changes[0]["badge"] == "Starting" and changes[0]["status"] == "starting 4 diverse images of filter 1…", log
    assert changes[1]["badge"] == "Preparing" and changes[1]["tiles"] == 0, log
    assert changes[1]["placeholders"] == ["1 · #1", "1 · #2", "1 · #3", "1 · #4"], log
    wait_for_state(page, "done")
    # Counted from the click, and the time spent tracing the new step named.
    expect(grid.locator(".actmax-grid__status")).to_contain_text("of it preparing the model")
    expect(grid).to_have_attribute("data-stale", "false")
    expect(grid.locator(".actmax-grid__layer")).to_have_text("conv_3")
    screenshot(page, f"run-states-{kind}-3-diverse-done")
