"""Helpers for the real-browser tests: a Jupyter server in a subprocess, notebooks on disk, and
Playwright actions that work in both JupyterLab 4 and Notebook 7.

The fixtures in ``conftest.py`` wrap these; tests normally import only the page-level helpers::

    from helpers import write_notebook, open_notebook, run_all_cells, screenshot

    def test_slider(lab_server, page):
        write_notebook(lab_server.root_dir, "slider.ipynb",
                       ["import ipywidgets as w; w.IntSlider(value=7, description='seven')"])
        open_notebook(page, lab_server, "slider.ipynb", theme="dark")
        run_all_cells(page)
        expect(page.locator(".widget-slider")).to_be_visible()
        screenshot(page, "slider-dark")          # -> test-artifacts/slider-dark.png

Design notes (what made these robust on a loaded 2-core box):

* The server runs ``sys.executable -m jupyterlab|notebook`` so the default ``python3`` kernel is this
  venv (jupyter_client swaps the kernelspec's ``"python"`` for ``sys.executable``).
* Config, data, runtime, IPython, user-settings and workspaces dirs are isolated in a temp dir;
  labextensions still come from ``sys.prefix/share/jupyter/labextensions`` (ipywidgets, anywidget).
* News / update-check toasts are turned off through the user settings; the theme is written to the
  user settings before each page load (deterministic; no UI clicking) and then verified on
  ``body[data-jp-theme-light]``.
* ``--expose-app-in-browser`` gives ``window.jupyterapp``: "run all" and kernel state go through the
  app's command registry / session instead of menus, identical in Lab and Notebook 7.
"""

from __future__ import annotations

import atexit
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("ACTMAX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
_APP_CLASS = {"lab": "LabApp", "notebook7": "JupyterNotebookApp"}
_MODULE = {"lab": "jupyterlab", "notebook7": "notebook"}

# Servers started in this process, so page teardown can shut their kernels down.
RUNNING_SERVERS: list["JupyterServer"] = []


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` (kind="lab") or ``jupyter notebook`` (kind="notebook7").

    Attributes: ``url`` (``http://127.0.0.1:PORT``, no trailing slash), ``root_dir`` (where
    notebooks go; ``write_notebook(server.root_dir, ...)``), ``settings_dir`` (JupyterLab user
    settings), ``log_path``, ``startup_s`` (process start -> HTTP answers).
    """

    kind: str
    url: str
    port: int
    root_dir: Path
    base_dir: Path
    settings_dir: Path
    log_path: Path
    proc: subprocess.Popen
    startup_s: float = 0.0
    # Kernels that outlive a test (``start_shared_kernel``): shutdown_kernels spares them.
    kept_kernels: set = field(default_factory=set)
    _log_file: object = field(default=None, repr=False)
    _http: object = field(default=None, repr=False)
    _cookies: object = field(default=None, repr=False)

    # -- REST ---------------------------------------------------------------------------------
    def api(self, path: str, method: str = "GET", body: dict | None = None, timeout: float = 10.0):
        """Call the server's REST API (no token; XSRF cookie handled); returns parsed JSON or None.

            server.api("sessions")                                   # list sessions
            server.api(f"sessions/{sid}", method="DELETE")
        """
        headers = {"Content-Type": "application/json"}
        if method != "GET":
            headers["X-XSRFToken"] = self._xsrf_token()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/{path.lstrip('/')}", data=data,
                                     method=method, headers=headers)
        with self._opener().open(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def _opener(self):
        if self._http is None:
            self._cookies = http.cookiejar.CookieJar()
            self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        return self._http

    def _xsrf_token(self) -> str:
        for c in self._cookies or []:
            if c.name == "_xsrf":
                return c.value
        # Any page handler sets the _xsrf cookie.
        page = "lab" if self.kind == "lab" else "tree"
        self._opener().open(f"{self.url}/{page}", timeout=30).read()
        for c in self._cookies:
            if c.name == "_xsrf":
                return c.value
        return ""

    def shutdown_kernels(self, keep_shared: bool = True) -> None:
        """Delete every session (and its kernel): call between tests to keep memory flat. The
        sessions of ``kept_kernels`` stay unless ``keep_shared`` is False."""
        try:
            for sess in self.api("sessions") or []:
                if keep_shared and (sess.get("kernel") or {}).get("id") in self.kept_kernels:
                    continue
                try:
                    self.api(f"sessions/{sess['id']}", method="DELETE", timeout=30)
                except (urllib.error.URLError, OSError):
                    pass
        except (urllib.error.URLError, OSError):
            pass

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    # -- settings -----------------------------------------------------------------------------
    def write_user_setting(self, plugin: str, values: dict) -> Path:
        """Write a JupyterLab user setting, e.g.
        ``server.write_user_setting("@jupyterlab/apputils-extension:themes", {"theme": "JupyterLab Dark"})``.
        The server reads these files on every page load."""
        return write_user_setting(self.settings_dir, plugin, values)

    def stop(self) -> None:
        """Stop by PID: shut kernels down, SIGTERM, and after 10 s SIGKILL the server's process
        group (the server and the kernels it spawned). Safe to call twice."""
        if self in RUNNING_SERVERS:
            RUNNING_SERVERS.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.shutdown_kernels(keep_shared=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()


def write_user_setting(settings_dir, plugin: str, values: dict) -> Path:
    """Write ``settings_dir/<pkg>/<plugin>.jupyterlab-settings`` atomically."""
    pkg, _, name = plugin.partition(":")
    path = Path(settings_dir) / pkg / f"{name}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2))
    tmp.replace(path)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_jupyter_server(kind: str = "lab", base_dir: Path | None = None,
                         timeout: float = 120.0) -> JupyterServer:
    """Start ``python -m jupyterlab`` (kind="lab") or ``python -m notebook`` (kind="notebook7")
    from this interpreter on 127.0.0.1:<free port> with isolated dirs under ``base_dir`` and wait
    until it answers HTTP. Raises RuntimeError with the server log if it does not come up.

        server = start_jupyter_server("lab")
        try: ...
        finally: server.stop()
    """
    if kind not in _MODULE:
        raise ValueError(f"kind must be one of {sorted(_MODULE)}, got {kind!r}")
    base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix=f"jupyter-{kind}-"))
    dirs = {k: base / k for k in ("root", "config", "data", "runtime", "ipython", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    # No news / update toasts over the page; light theme unless open_notebook says otherwise.
    write_user_setting(dirs["settings"], "@jupyterlab/apputils-extension:notification",
                       {"fetchNews": "false", "checkForUpdates": False})
    write_user_setting(dirs["settings"], "@jupyterlab/apputils-extension:themes", {"theme": THEMES["light"]})

    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        PATH=venv_bin + os.pathsep + env.get("PATH", ""),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_PATH", None)  # do not let a caller's extra data path leak in

    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        cmd = [
            sys.executable, "-m", _MODULE[kind],
            "--no-browser",
            "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            "--IdentityProvider.token=", "--ServerApp.password=",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={dirs['root']}",
            "--ServerApp.terminals_enabled=False",
        ]
        # Both app classes: a Lab server also serves /notebooks/ through the notebook extension.
        for app in _APP_CLASS.values():
            cmd += [f"--{app}.user_settings_dir={dirs['settings']}",
                    f"--{app}.workspaces_dir={dirs['workspaces']}",
                    f"--{app}.expose_app_in_browser=True"]
        log_path = base / f"server-{port}.log"
        log_file = open(log_path, "w")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=dirs["root"], env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # own process group: server + its kernels
        url = f"http://127.0.0.1:{port}"
        server = JupyterServer(kind, url, port, dirs["root"], base, dirs["settings"], log_path,
                               proc, _log_file=log_file)
        deadline = t0 + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        server.startup_s = time.monotonic() - t0
                        RUNNING_SERVERS.append(server)
                        atexit.register(server.stop)  # backup if pytest dies before teardown
                        return server
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        last_error = server.log_tail()
        server.stop()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"jupyter {kind} did not answer within {timeout:.0f} s; log:\n{last_error}")


# --------------------------------------------------------------------------------------------
# Notebooks on disk
# --------------------------------------------------------------------------------------------


def write_notebook(root_dir, name: str, cells: list[str], *, markdown: dict[int, str] | None = None) -> Path:
    """Write an nbformat-4 notebook of code ``cells`` (python3 kernelspec) to ``root_dir/name``.

        path = write_notebook(lab_server.root_dir, "t.ipynb", ["x = 1", "x + 1"])
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[new_code_cell(src) for src in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    path = Path(root_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------------------------
# Page actions (JupyterLab 4 and Notebook 7)
# --------------------------------------------------------------------------------------------

_JS_APP_READY = "() => !!(window.jupyterapp && window.jupyterapp.shell && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.sessionContext)"

_JS_KERNEL_STATE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const sc = w && w.sessionContext;
  const k = sc && sc.session && sc.session.kernel;
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'));
  const pending = prompts.filter(p => p.textContent.includes('*')).length;
  return {status: k ? k.status : (sc && sc.isReady === false ? 'starting' : 'none'), pending};
}"""


def start_shared_kernel(server: JupyterServer) -> str:
    """Start a kernel that several notebooks share (``attach_notebook``), kept between tests: the
    kernel start and its imports (TensorFlow: seconds) happen once, not once per notebook.
    Returns its id; ``stop_shared_kernel`` ends it."""
    kernel_id = server.api("kernels", method="POST", body={"name": "python3"}, timeout=60)["id"]
    server.kept_kernels.add(kernel_id)
    return kernel_id


def attach_notebook(server: JupyterServer, name: str, kernel_id: str) -> None:
    """Give notebook ``name`` a session on ``kernel_id`` before the page opens it: JupyterLab and
    Notebook 7 then connect the page to that session's kernel instead of starting a new one."""
    server.api("sessions", method="POST", timeout=60,
               body={"path": name, "name": name, "type": "notebook", "kernel": {"id": kernel_id}})


def stop_shared_kernel(server: JupyterServer, kernel_id: str) -> None:
    server.kept_kernels.discard(kernel_id)
    try:
        for sess in server.api("sessions") or []:
            if (sess.get("kernel") or {}).get("id") == kernel_id:
                server.api(f"sessions/{sess['id']}", method="DELETE", timeout=30)
        server.api(f"kernels/{kernel_id}", method="DELETE", timeout=30)
    except (urllib.error.URLError, OSError):
        pass  # already gone with its last session


def open_notebook(page, server: JupyterServer, name: str, *, ui: str | None = None,
                  theme: str = "light", timeout: float = 90_000) -> float:
    """Open ``name`` (relative to ``server.root_dir``) and wait until its kernel is idle.

    ``ui``: "lab" (``/lab/tree/NAME?reset``) or "notebook7" (``/notebooks/NAME``); defaults to the
    server's kind (a Lab server can also serve "notebook7" since the notebook package is
    installed). ``theme``: "light" | "dark" | a full theme name; written to the user settings before
    the page loads and checked on ``body[data-jp-theme-light]``. Returns seconds to kernel idle.

        open_notebook(page, lab_server, "t.ipynb", theme="dark")
        open_notebook(page, notebook7_server, "t.ipynb")          # Notebook 7 UI
    """
    from playwright.sync_api import expect

    ui = ui or server.kind
    theme_name = THEMES.get(theme, theme)
    server.write_user_setting("@jupyterlab/apputils-extension:themes", {"theme": theme_name})
    t0 = time.monotonic()
    if ui == "lab":
        page.goto(f"{server.url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    elif ui == "notebook7":
        page.goto(f"{server.url}/notebooks/{name}", wait_until="domcontentloaded")
    else:
        raise ValueError(f"ui must be 'lab' or 'notebook7', got {ui!r}")

    page.wait_for_function(_JS_APP_READY, timeout=timeout)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=timeout)
    if ui == "lab":
        expect(page.locator("#jp-main-statusbar >> text=Idle")).to_be_visible(timeout=timeout)
    wait_kernel_idle(page, timeout=timeout)
    is_light = "false" if "dark" in theme_name.lower() else "true"
    expect(page.locator(f'body[data-jp-theme-light="{is_light}"]')).to_have_count(1, timeout=timeout)
    return time.monotonic() - t0


def wait_kernel_idle(page, timeout: float = 60_000, settle_ms: int = 300) -> None:
    """Wait until the current notebook's kernel is idle and no cell shows ``[*]``, twice in a row
    ``settle_ms`` apart (a run-all queue goes idle briefly between cells)."""
    deadline = time.monotonic() + timeout / 1000
    stable = 0
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(_JS_KERNEL_STATE)
        if state["status"] == "idle" and state["pending"] == 0:
            stable += 1
            if stable >= 2:
                return
        else:
            stable = 0
        page.wait_for_timeout(settle_ms if stable else 150)
    raise TimeoutError(f"kernel not idle after {timeout / 1000:.0f} s (last state {state})")


def run_all_cells(page, *, wait: bool = True, timeout: float = 120_000) -> None:
    """Run every cell (the app's ``notebook:run-all-cells`` command: same in Lab and Notebook 7)
    and, by default, wait until the kernel is idle again."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    if wait:
        page.wait_for_timeout(200)
        wait_kernel_idle(page, timeout=timeout)


def cell(page, index: int):
    """Locator of the code/markdown cell ``index`` (0-based) of the open notebook."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def cell_output(page, index: int):
    """Locator of the output area of cell ``index``; e.g.
    ``expect(cell_output(page, 0)).to_contain_text("hello")``."""
    return cell(page, index).locator(".jp-OutputArea-output")


def run_cell(page, index: int, *, key: str = "Shift+Enter", wait: bool = True,
             timeout: float = 120_000) -> None:
    """Run cell ``index`` like a user: click its editor and press ``key`` (Shift+Enter runs and
    moves on, adding an empty cell after the last one; "Control+Enter" runs in place). Then
    wait for the kernel to be idle unless ``wait=False`` (e.g. to click Stop while it runs)."""
    c = cell(page, index)
    c.scroll_into_view_if_needed()
    c.locator(".jp-InputArea-editor").click()
    page.keyboard.press(key)
    if wait:
        page.wait_for_timeout(200)
        wait_kernel_idle(page, timeout=timeout)


def background_rgb(locator) -> list[int]:
    """The red, green and blue of the background the element shows: its own, or the first
    non-transparent one of its ancestors. ``sum(background_rgb(el)) / 3 < 80``: dark."""
    css = locator.evaluate(
        "el => { let e = el; while (e) { const c = getComputedStyle(e).backgroundColor;"
        " if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; e = e.parentElement; } return ''; }")
    return [int(v) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:150] or "page"


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save ``test-artifacts/NAME.png`` (repo root, git-ignored) and return its path."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"{_safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def save_failure_artifacts(page, name: str, console: list[str] | None = None) -> list[Path]:
    """Screenshot + browser console + server log tails for a failed test."""
    out = []
    try:
        out.append(screenshot(page, name))
    except Exception as exc:  # page may be dead
        print(f"[browser tests] screenshot failed: {exc}")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    if console:
        p = ARTIFACTS_DIR / f"{_safe_name(name)}.console.txt"
        p.write_text("\n".join(console))
        out.append(p)
    for srv in RUNNING_SERVERS:
        p = ARTIFACTS_DIR / f"{_safe_name(name)}.{srv.kind}-server.log"
        shutil.copyfile(srv.log_path, p)
        out.append(p)
    return out
