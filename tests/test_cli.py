"""``python -m actmax_widgets``: arguments parsed and checked before TensorFlow loads, user errors
as one line on stderr with exit status 2, --out checked before any optimizing, and the model's
own input size by default (issue #12, #18).

Start-up is tested in subprocesses (this test process has TensorFlow loaded by conftest); the
rest calls ``cli.main([...])`` in process.
"""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from actmax_widgets import cli, styles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_LINES = ("I0000", "W0000", "E0000", "cpu_feature_guard", "oneDNN", "absl::InitializeLog", "cuda", "TensorFlow binary")


def python(code_or_args, env_update=None):
    """Run this venv's Python in the repository with TF_CPP_MIN_LOG_LEVEL unset (the package
    must set it itself) and ``env_update``; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_update or {})
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_help_answers_without_tensorflow():
    done = python(["-m", "actmax_widgets", "--help"])
    assert done.returncode == 0
    assert "--steps" in done.stdout and "--size" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("argv", [["--steps", "5", "--out", "grid.png"], ["--steps", "0"], ["--size", "x"],
                                  ["--style", "lucent"], ["--model", "missing.keras"]])
def test_parsing_and_argument_errors_never_import_tensorflow(argv):
    code = (f"import sys; from actmax_widgets import cli; args = cli._checked({argv!r}) if {argv!r}[1] == '5' "
            f"else cli.main({argv!r}); print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = python(code)
    assert done.stdout.split()[-2:] == ["False", "False"], done.stdout + done.stderr


# oneDNN on is TensorFlow's default on Intel CPUs: its note on round-off is written before logging
# starts, where the log level cannot hide it (the package filters the import itself).
@pytest.mark.parametrize("onednn", ["1", "0"])
def test_package_import_silences_tensorflow_start_up_lines(onednn):
    done = python("import actmax_widgets, tensorflow as tf; print(int(tf.constant(1) + 1))",
                  {"TF_ENABLE_ONEDNN_OPTS": onednn})
    assert done.stdout.strip() == "2"
    assert not [line for line in done.stderr.splitlines() if any(mark in line for mark in TF_LINES)], done.stderr


def test_what_else_is_written_while_tensorflow_loads_still_reaches_stderr():
    """Only the known start-up lines are dropped: a warning written during the import stays."""
    code = ("import os, sys, actmax_widgets, actmax_widgets.quiet_tensorflow as q\n"
            "with q._stderr_filtered():\n"
            "    os.write(2, b'I0000 port.cc] oneDNN custom operations are on.\\nreal trouble\\n')\n")
    done = python(code)
    assert done.stderr == "real trouble\n", done.stderr


def test_a_users_own_log_level_wins():
    done = python("import os, actmax_widgets; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])", {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.stdout.strip() == "0"


def test_a_user_error_from_the_command_line_is_one_line_and_status_2():
    done = python(["-m", "actmax_widgets", "--steps", "-3"])
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: --steps=-3 is too small: use at least 1 step, e.g. --steps 200."]


def test_the_style_list_matches_the_styles():
    assert sorted(cli.STYLES) == sorted(styles.names())


# --- in process: every bad argument is one line naming it, status 2 --------------------------


@pytest.fixture
def run(capsys, tmp_path, monkeypatch):
    """``run(*argv)`` -> (status, stderr lines); the model is never loaded (a user error must come
    first), and relative paths land in tmp_path."""
    monkeypatch.chdir(tmp_path)

    def never(path):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(cli, "_load_model", never)

    def call(*argv):
        status = cli.main(list(argv))
        return status, capsys.readouterr().err.splitlines()
    return call


BAD_ARGUMENTS = {
    "steps zero": (["--steps", "0"], ["--steps=0", "--steps 200"]),
    "steps negative": (["--steps", "-3"], ["--steps=-3", "at least 1"]),
    "steps not a number": (["--steps", "abc"], ["--steps", "'abc'", "--help"]),
    "steps float": (["--steps", "2.5"], ["--steps", "'2.5'"]),
    "size too small": (["--size", "4"], ["--size=4", "8..4096"]),
    "size zero": (["--size", "0"], ["--size=0", "--size 128"]),
    "size huge": (["--size", "100000"], ["--size=100000", "8..4096"]),
    "size not a number": (["--size", "big"], ["--size", "'big'"]),
    "seed not a number": (["--seed", "abc"], ["--seed", "'abc'"]),
    "jitter negative": (["--jitter", "-1"], ["--jitter=-1.0", "--jitter 0.05"]),
    "jitter NaN": (["--jitter", "nan"], ["--jitter=nan", "finite"]),
    "tv weight negative": (["--tv-weight", "-2"], ["--tv-weight=-2.0", "--tv-weight 10"]),
    "lp weight infinite": (["--lp-weight", "inf"], ["--lp-weight=inf", "finite"]),
    "cols zero": (["--cols", "0"], ["--cols=0", "at least 1"]),
    "style unknown": (["--style", "lucent"], ["--style", "'lucent'", "fourier"]),
    "precision unknown": (["--precision", "half"], ["--precision", "'half'", "bfloat16"]),
    "unknown option": (["--stpes", "5"], ["--stpes", "--help"]),
    "out not png": (["--out", "grid.jpg"], ["--out 'grid.jpg'", ".png", "--out grid.png"]),
    "out folder missing": (["--out", "no/such/folder/grid.png"], ["--out 'no/such/folder/grid.png'", "does not exist"]),
    "out is a folder": (["--out", "."], ["--out '.'", "is a directory"]),
    "gif not an animation": (["--gif", "run.png"], ["--gif 'run.png'", ".gif or .webp", "--gif run.gif"]),
    "gif folder missing": (["--gif", "no/such/run.gif"], ["--gif 'no/such/run.gif'", "does not exist"]),
    "model missing": (["--model", "missing.keras"], ["--model 'missing.keras'", "does not exist", "model.keras"]),
    "model is a folder": (["--model", "."], ["--model '.'", "does not exist (or is not a file)"]),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_argument_is_one_line_naming_it(run, case):
    argv, words = BAD_ARGUMENTS[case]
    status, lines = run(*argv)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def test_model_with_another_extension_is_refused(run, tmp_path):
    (tmp_path / "weights.pth").write_bytes(b"not keras")
    status, lines = run("--model", "weights.pth")
    assert status == 2 and len(lines) == 1 and "model.save('model.keras')" in lines[0]


def test_unwritable_out_is_refused_before_the_model_loads(run, tmp_path):
    if os.geteuid() == 0:  # root writes anywhere but on a read-only file system
        target = "/sys/grid.png"
        if not os.path.isdir("/sys"):
            pytest.skip("no read-only folder for root here")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = str(locked / "grid.png")
    status, lines = run("--out", target)
    assert status == 2 and len(lines) == 1
    assert f"--out {target!r} cannot be written" in lines[0] and "folder you can write to" in lines[0]
    assert not os.path.exists(target)


def test_existing_out_is_kept_until_the_run_writes_it(run, tmp_path):
    (tmp_path / "grid.png").write_bytes(b"old")
    status, _ = run("--out", "grid.png", "--steps", "0")
    assert status == 2 and (tmp_path / "grid.png").read_bytes() == b"old"


# --- with a model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_like(tmp_path_factory):
    """A 28×28 grey-scale classifier saved as .keras: a fixed-size model with a Dense head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)  # named: Keras numbers unnamed layers per process
    model = keras.Model(inputs, keras.layers.Dense(10, name="digits")(x), name="mnist_like")
    path = tmp_path_factory.mktemp("models") / "mnist.keras"
    model.save(path)
    return str(path)


def test_mnist_model_runs_with_default_arguments_at_its_own_size(mnist_like, tmp_path, monkeypatch, capsys):
    from actmax_widgets import visualization

    seen = []
    original = visualization.visualize_filters

    def spy(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(visualization, "visualize_filters", spy)
    out = tmp_path / "grid.png"
    status = cli.main(["--model", mnist_like, "--filters", "0-1", "--steps", "2", "--out", str(out)])
    assert status == 0 and out.exists() and capsys.readouterr().out.strip() == str(out)
    assert seen[0].images.shape == (2, 28, 28, 1)


def test_gif_writes_the_run_as_an_animation_of_the_grid(mnist_like, tmp_path, capsys):
    from PIL import Image

    out, gif = tmp_path / "grid.png", tmp_path / "run.gif"
    status = cli.main(["--model", mnist_like, "--filters", "0-1", "--steps", "6", "--out", str(out),
                       "--gif", str(gif)])
    assert status == 0 and capsys.readouterr().out.split() == [str(out), str(gif)]
    with Image.open(gif) as animation:
        assert animation.n_frames == 6  # every step of a short run is kept


@pytest.mark.parametrize("argv, words", [
    (["--layer", "conv9"], ["conv9", "conv1"]),
    (["--layer", "flatten"], ["flatten", "only reshapes"]),
    (["--filters", "0-99"], ["'0-99' goes past the last filter", "0..3"]),
    (["--filters", "x"], ["Can't read 'x'", "0-15"]),
    (["--layer", "digits", "--filters", "0-1", "--size", "64"], ["--size=64", "28×28 px only", "--size=28"]),
])
def test_bad_layer_or_filters_for_the_model_is_one_line(mnist_like, tmp_path, capsys, argv, words):
    status = cli.main(["--model", mnist_like, "--steps", "1", "--out", str(tmp_path / "g.png"), *argv])
    lines = capsys.readouterr().err.splitlines()
    assert status == 2 and len(lines) == 1, lines
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "g.png").exists()


def test_corrupt_model_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.keras"
    path.write_bytes(np.random.default_rng(0).bytes(256))
    status = cli.main(["--model", str(path), "--out", str(tmp_path / "g.png")])
    lines = capsys.readouterr().err.splitlines()
    assert status == 2 and len(lines) == 1
    assert f"--model {str(path)!r} could not be loaded" in lines[0] and "model.save('model.keras')" in lines[0]


def test_the_console_script_reaches_the_atlas_subcommand(tmp_path, capsys):
    status = cli.main(["atlas", "--out", str(tmp_path / "atlas"), "--engine", "spark"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "--engine: invalid choice: 'spark'" in lines[0] and "ray" in lines[0]
