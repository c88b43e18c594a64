"""Screenshots of the grid harness (js/demo/) in headless Chromium, light and dark.

    .venv/bin/python js/demo/screenshots.py [OUT_DIR]     # default /tmp/grid-shots

Needs the built bundle (`npm run build` in js/) and Debian's chromium at /usr/bin/chromium.
"""

import functools
import http.server
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/grid-shots")
SHOTS = {
    "compiling": "scenario=compiling",
    "running": "scenario=running",
    "done": "scenario=done",
    "stopped": "scenario=stopped",
    "error": "scenario=error",
    "idle": "scenario=idle",
    "classes": "scenario=done&labels=classes&tiles=10",
    "zoom": "scenario=running&zoom=2",
    "zoom-dead": "scenario=done&zoom=5",
    "xss": "scenario=done&tiles=4&layer=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


COUNT_BLOB_URLS = """
    window.liveBlobUrls = new Set();
    const create = URL.createObjectURL, revoke = URL.revokeObjectURL;
    URL.createObjectURL = (blob) => { const url = create(blob); liveBlobUrls.add(url); return url; };
    URL.revokeObjectURL = (url) => { liveBlobUrls.delete(url); revoke(url); };
"""


def check_interactions(page, base, errors):
    """Save grid, keyboard zoom and a live run in a real browser."""
    page.goto(f"{base}?theme=light&scenario=done")
    page.wait_for_selector("body[data-ready=true]")
    with page.expect_download() as download:
        page.get_by_role("button", name="Save grid").click()
    assert download.value.suggested_filename == "actmax_block4a_expand_conv.png", download.value.suggested_filename
    download.value.save_as(OUT / "saved-grid.png")
    print(OUT / "saved-grid.png")

    page.keyboard.press("Tab")  # from Save grid to the first tile
    assert page.evaluate("document.activeElement.dataset.index") == "0"
    page.keyboard.press("Enter")
    assert page.evaluate("document.querySelector('dialog').open")
    assert page.evaluate("document.querySelector('dialog').contains(document.activeElement)")
    page.keyboard.press("ArrowRight")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG").click()
    assert download.value.suggested_filename == "actmax_block4a_expand_conv_filter12.png"
    page.keyboard.press("Escape")
    assert not page.evaluate("document.querySelector('dialog').open")
    assert page.evaluate("document.activeElement.dataset.index") == "1"

    page.add_init_script(COUNT_BLOB_URLS)
    page.goto(f"{base}?theme=light&scenario=live&tiles=16&zoom=3")
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    live = page.evaluate("liveBlobUrls.size")
    assert live <= 16, f"{live} Blob URLs alive for 16 tiles"
    page.screenshot(path=str(OUT / "live-end-zoom.png"))
    print(OUT / "live-end-zoom.png", f"({live} live Blob URLs)")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(ROOT))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/js/demo/index.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1040, "height": 760}, device_scale_factor=1)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(f"unexpected dialog: {dialog.message}"))
        for theme in ("light", "dark"):
            for name, query in SHOTS.items():
                page.goto(f"{base}?theme={theme}&{query}")
                page.wait_for_selector("body[data-ready=true]")
                page.wait_for_timeout(350)
                path = OUT / f"{name}-{theme}.png"
                full = not name.startswith("zoom")
                page.screenshot(path=str(path), full_page=full, animations="disabled" if name != "compiling" else "allow")
                print(path)
        # No --jp-* variables at all, as in Colab: the fallbacks must carry the look.
        page.goto(f"{base}?theme=none&scenario=running&labels=classes&tiles=8")
        page.wait_for_selector("body[data-ready=true]")
        page.screenshot(path=str(OUT / "running-no-theme.png"), full_page=True)
        print(OUT / "running-no-theme.png")
        check_interactions(page, base, errors)
        browser.close()
    server.shutdown()
    if errors:
        sys.exit("page errors:\n" + "\n".join(errors))


if __name__ == "__main__":
    main()
