"""The atlas's browsable site: static files copied beside the store and one ``data.js``.

A page opened from ``file://`` cannot fetch ``manifest.json`` (browsers refuse it), so the data
travel as a script, ``data.js``, which sets ``window.ATLAS``. It is rewritten after every chunk
(atomically: a browser reloading mid-build sees the old or the new file, never half of one).
Layer and class names are user data: they are written as JSON with ``<``, ``>`` and ``&``
escaped, so a layer named ``</script>`` cannot end the script, and the page puts them in the
DOM with ``textContent`` only (``static/atlas.js``).
"""
from __future__ import annotations

import json
from pathlib import Path

from . import site_data
from .store import write_atomic

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = ("index.html", "atlas.js", "atlas.css")
DATA_FILE = "data.js"
MANIFEST = "manifest.json"

# JSON is valid JavaScript; these escapes keep it valid inside <script> and in every parser.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def write_site(out) -> Path:
    """Write (or refresh) the site of the atlas in ``out``: the static files and ``data.js``
    from ``out/manifest.json``. Returns the path of ``index.html``; open it in a browser, no
    server needed."""
    out = Path(out)
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"out={str(out)!r} holds no {MANIFEST}: build the atlas there first "
                                "(actmax_widgets.atlas.build(model, out)).")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name in STATIC_FILES:
        source = (STATIC_DIR / name).read_bytes()
        target = out / name
        if not target.is_file() or target.read_bytes() != source:
            write_atomic(target, source)
    data = site_data.gather(manifest, out)
    write_atomic(out / DATA_FILE, data_script(data).encode("utf-8"))
    return out / "index.html"


def data_script(data) -> str:
    """``window.ATLAS = {...};`` with every character that could end or confuse a script escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for character, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(character, escape)
    return f"window.ATLAS = {text};\n"

