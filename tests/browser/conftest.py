"""Fixtures for real-browser tests (headless Debian Chromium + Playwright + a live Jupyter server).

Needs ``/usr/bin/chromium``: ``bash tools/ensure_browser.sh`` (never ``playwright install``).
Every test under ``tests/browser/`` is marked ``browser``; skip them with ``-m "not browser"``.

Fixtures
--------
``lab_server`` (session)        a running ``jupyter lab``; ``.url``, ``.root_dir``, ``.stop()``
``notebook7_server`` (session)  a running ``jupyter notebook`` (Notebook 7)
``jupyter_server_factory`` (session)  ``factory(kind)`` -> server, cached per kind, for parametrizing
``browser`` (session)           a Playwright Chromium ``Browser``
``page`` (function)             a fresh context+page (1280x900); on failure saves
                                ``test-artifacts/<test>.png`` (+ console log, server log); at the
                                end shuts down the kernels the test started

Example::

    from playwright.sync_api import expect
    from helpers import write_notebook, open_notebook, run_all_cells, cell_output, screenshot

    def test_widget(lab_server, page):
        write_notebook(lab_server.root_dir, "w.ipynb", ["from actmax_widgets import ActMaxWidget", "..."])
        open_notebook(page, lab_server, "w.ipynb", theme="dark")
        run_all_cells(page)
        expect(cell_output(page, 1).locator(".actmax-grid")).to_be_visible(timeout=60_000)
        screenshot(page, "widget-dark")
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import helpers  # noqa: E402

_HERE = Path(__file__).parent.resolve()


def pytest_collection_modifyitems(config, items):
    # This hook sees the whole session's items: mark only the ones under tests/browser/.
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)  # item.rep_setup / rep_call / rep_teardown
    return rep


# ------------------------------------------------------------------------------------ servers


@pytest.fixture(scope="session")
def jupyter_server_factory(tmp_path_factory, request):
    """``factory(kind)`` with kind "lab" | "notebook7": starts that server once per session.

        def test_x(jupyter_server_factory, page):
            server = jupyter_server_factory("notebook7")
    """
    servers: dict[str, helpers.JupyterServer] = {}

    def factory(kind: str = "lab") -> helpers.JupyterServer:
        if kind not in servers:
            base = tmp_path_factory.mktemp(f"jupyter-{kind}")
            servers[kind] = helpers.start_jupyter_server(kind, base)
        return servers[kind]

    yield factory
    for kind, server in servers.items():
        if request.session.testsfailed:
            helpers.ARTIFACTS_DIR.mkdir(exist_ok=True)
            (helpers.ARTIFACTS_DIR / f"jupyter-{kind}-server.log").write_text(
                server.log_path.read_text(errors="replace"))
            print(f"\n----- jupyter {kind} server log (tail) -----\n{server.log_tail(40)}")
        server.stop()


@pytest.fixture(scope="session")
def lab_server(jupyter_server_factory) -> helpers.JupyterServer:
    """A ``jupyter lab`` for the whole session (open pages with ``open_notebook(page, lab_server, NAME)``)."""
    return jupyter_server_factory("lab")


@pytest.fixture(scope="session")
def notebook7_server(jupyter_server_factory) -> helpers.JupyterServer:
    """A ``jupyter notebook`` (Notebook 7) for the whole session."""
    return jupyter_server_factory("notebook7")


# ------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (one per session)."""
    if not os.access(helpers.CHROMIUM, os.X_OK):
        pytest.fail(f"{helpers.CHROMIUM} not found: run `bash tools/ensure_browser.sh` "
                    "(or deselect with -m 'not browser')", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=helpers.CHROMIUM, headless=True,
                               args=helpers.CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page (own context, 1280x900, 30 s default timeout). ``page.console`` lists the
    browser console lines. On failure: ``test-artifacts/<test>.png`` and friends."""
    context = browser.new_context(viewport=helpers.VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    pg.console = console  # type: ignore[attr-defined]
    yield pg
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
                 for w in ("setup", "call"))
    if failed:
        saved = helpers.save_failure_artifacts(pg, request.node.nodeid, console)
        print("\n[browser tests] saved " + ", ".join(str(p) for p in saved))
    context.close()
    for server in list(helpers.RUNNING_SERVERS):
        server.shutdown_kernels()
