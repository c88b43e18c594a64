"""The atlas's site opened from file:// in headless Chromium: no server, no CDN.

A real build (actmax_widgets.atlas.build) of a tiny model whose first layer's name is hostile
HTML, then the three views a workshop attendee walks through: the model's layers, one layer's
tiles, one channel. A hand-written store adds what the tiny build has not: a layer named
``</script>``, and natural examples. Screenshots go to test-artifacts/.
"""
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpers import screenshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from atlas_store import write_store  # noqa: E402

HOSTILE = "<b>bold<\\b><img src=x onerror=window.PWNED=1>"  # Keras refuses "/" in names


@pytest.fixture(scope="module")
def built_atlas(tmp_path_factory):
    import keras

    from actmax_widgets.atlas import build

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name=HOSTILE)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, name="predictions")(x)
    model = keras.Model(inputs, outputs, name="tiny_net")
    out = tmp_path_factory.mktemp("atlas")
    build(model, out, steps=8, image_size=32, filters_per_chunk=4, progress=False, variants=0)
    return out


def _open(page, out, hash_=""):
    page.goto((Path(out) / "index.html").as_uri() + hash_)
    expect(page.locator("h1")).to_be_visible()


def _no_script_ran(page):
    assert page.evaluate("window.PWNED") is None
    assert not [line for line in page.console if "pageerror" in line], page.console


def test_index_lists_the_layers_with_kinds_counts_and_progress(page, built_atlas):
    _open(page, built_atlas)
    expect(page.locator("h1")).to_have_text("Atlas of tiny_net")
    rows = page.locator("table.atlas-layers tbody tr")
    expect(rows).to_have_count(3)
    texts = [rows.nth(i).locator("td").all_inner_texts()[:4] for i in range(3)]
    assert texts == [[HOSTILE, "conv2d", "6", "6 / 6"], ["conv2", "conv2d", "4", "4 / 4"],
                     ["predictions", "dense", "3", "3 / 3"]]
    expect(page.locator(".atlas-progress__text").first).to_have_text("4 of 4 chunks done")
    expect(page.locator("table b")).to_have_count(0)  # the hostile name is text, not markup
    _no_script_ran(page)
    screenshot(page, "atlas-index")


def test_layer_page_shows_every_channel_lazily_and_a_channel_view_opens(page, built_atlas):
    _open(page, built_atlas)
    page.get_by_role("link", name=HOSTILE).click()
    expect(page.locator("h1")).to_have_text(HOSTILE)
    tiles = page.locator(".atlas-tile")
    expect(tiles).to_have_count(6)
    assert page.locator(".atlas-tile img[loading=lazy]").count() == 6
    # The tiles on screen have loaded their image files from disk.
    page.wait_for_function("[...document.querySelectorAll('.atlas-tile img')].every(i => i.complete && i.naturalWidth === 32)")
    _no_script_ran(page)
    screenshot(page, "atlas-layer")

    tiles.nth(2).click()
    expect(page.locator("h1")).to_have_text(f"{HOSTILE} · filter 2")
    page.wait_for_function("document.querySelector('img.big').naturalWidth === 32")
    points = page.locator("svg.atlas-curve polyline").get_attribute("points").split()
    assert len(points) == 8  # one point per step of the 8-step build
    expect(page.locator(".atlas-crumbs")).to_contain_text(HOSTILE)
    screenshot(page, "atlas-channel")
    page.get_by_role("link", name="filter 3 →").click()
    expect(page.locator("h1")).to_have_text(f"{HOSTILE} · filter 3")
    page.go_back()  # hash navigation: the browser's Back works
    expect(page.locator("h1")).to_have_text(f"{HOSTILE} · filter 2")
    _no_script_ran(page)


def test_a_layer_named_script_stays_text_and_variants_and_natural_examples_show(page, tmp_path):
    from actmax_widgets.atlas.site import write_site

    name = "</script><script>window.PWNED=1</script>"
    write_store(tmp_path, [(name, "conv2d", 4, [0, 1]), ("conv2", "conv2d", 8, [0, 1, 2])],
                size=32, examples=True, planned_chunks=6, variants=3)
    write_site(tmp_path)
    _open(page, tmp_path)
    assert page.evaluate("window.ATLAS.layers[0].name") == name
    expect(page.locator(".atlas-progress__text").first).to_have_text("3 of 6 chunks done")
    expect(page.locator("table.atlas-layers td.name").first).to_have_text(name)
    _open(page, tmp_path, "#layer=conv2&filter=1")
    expect(page.locator("h2", has_text="Natural examples")).to_be_visible()
    expect(page.locator(".atlas-strip img")).to_have_count(3 + 3)
    variants = page.locator(".atlas-variants figure")
    expect(variants).to_have_count(3)
    expect(page.locator("h2", has_text="Diverse variants")).to_be_visible()
    assert variants.locator("figcaption").all_inner_texts() == ["#1 · 2.00", "#2 · 2.10", "#3 · 2.20"]
    assert variants.locator("img").nth(1).get_attribute("alt") == "conv2, filter 1, variant 2"
    page.wait_for_function("[...document.querySelectorAll('.atlas-strip img')].every(i => i.naturalWidth === 32)")
    _no_script_ran(page)
    screenshot(page, "atlas-channel-examples", full_page=True)
