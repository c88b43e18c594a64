"""The workshop notebooks are committed clean and readable (their execution is nbval's job).

Checks without running anything: outputs stripped, a title and teaching text in each, the widget
cells blocking (nbval does not wait for threads), and nothing that needs the internet.
"""
import json
import pathlib
import re
import subprocess

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def committed_text(path):
    """The notebook as committed (what a clone gets), else the file: running it in JupyterLab
    saves outputs into the working file, and that must not fail the tests of the committed one."""
    root = path.parent.parent
    try:
        return subprocess.run(["git", "show", f"HEAD:{path.relative_to(root).as_posix()}"], cwd=root,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git checkout, or not committed yet
        return path.read_text(encoding="utf-8")


def cells_of(path):
    return json.loads(committed_text(path))["cells"]


def source(cell):
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def test_the_twelve_workshop_notebooks_exist():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, 13)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    for cell in cells_of(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: a cell has outputs; clear them before committing"
            assert cell["execution_count"] is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_starts_with_a_title_and_teaches_in_markdown(path):
    cells = cells_of(path)
    assert cells[0]["cell_type"] == "markdown" and source(cells[0]).startswith("# "), \
        f"{path.name}: the first cell should be a markdown '# Title'"
    markdown = [c for c in cells if c["cell_type"] == "markdown"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert len(markdown) >= 4 and len(markdown) >= len(code) / 2, f"{path.name}: too little explanation"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_stay_short(path):
    for cell in cells_of(path):
        if cell["cell_type"] == "code":
            lines = source(cell).splitlines()
            assert len(lines) <= 40, f"{path.name}: a {len(lines)}-line code cell; split it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_widget_runs_block(path):
    for cell in cells_of(path):
        text = source(cell)
        if cell["cell_type"] == "code" and re.search(r"\.run\(", text):
            assert "blocking=True" in text, f"{path.name}: widget runs must block for nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_offline(path):
    code = "\n".join(source(c) for c in cells_of(path) if c["cell_type"] == "code")
    # Downloads belong in markdown ("with internet, ..."), never in code that nbval runs.
    for needle in ('weights="imagenet"', "weights='imagenet'", "keras.datasets", "urllib", "requests."):
        uncommented = [line for line in code.splitlines() if needle in line.split("#")[0]]
        assert not uncommented, f"{path.name}: {uncommented[0].strip()!r} needs the internet"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_actmax_widgets_is_imported_before_tensorflow(path):
    """TensorFlow writes start-up lines on stderr (a pink box in Jupyter) unless actmax_widgets
    was imported first: the package filters the first import of tensorflow (quiet_tensorflow)."""
    imports = [line.split()[1].split(".")[0] for c in cells_of(path) if c["cell_type"] == "code"
               for line in source(c).splitlines() if re.match(r"(import|from) \w", line)]
    heavy = [name for name in imports if name in ("actmax_widgets", "keras", "tensorflow")]
    assert heavy and heavy[0] == "actmax_widgets", f"{path.name}: imports {heavy[:3]} in that order"
