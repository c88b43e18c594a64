#!/usr/bin/env bash
# The GPU path measured, in one command (at most 8 minutes): bench/GPU.md.
#
#   bash tools/carry_wheels.sh     # here, with internet: the wheels into .carry/ (git-ignored)
#   bash bench/gpu.sh              # there, on the GPU machine, from the checkout's root
#   bash bench/gpu.sh --smoke      # a rehearsal with tiny sizes (any machine, CPU included)
#
# On the GPU machine: JAX and/or PyTorch with CUDA are there already (whichever sees the GPU is
# used, JAX first); TensorFlow is not needed. The package, Keras and the small pure-Python packages
# it needs are installed from the carried wheels, nothing downloaded. When $OUT is set (the device
# tool's output folder), GPU.md, the raw results, the precision rule and the log are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CARRY=${CARRY_DIR:-.carry}
SITE=${GPU_SITE:-/tmp/actmax_gpu_site}
LOG=${GPU_LOG:-/tmp/actmax_gpu.log}

if [ ! -f "$CARRY/requirements.txt" ]; then
    echo "No wheels in $CARRY: run 'bash tools/carry_wheels.sh' on a machine with internet first." >&2
    exit 2
fi
# --target: into a folder of its own, put first on the path; --no-deps: everything else the
# package needs (numpy, scipy, JAX, PyTorch ...) is the machine's own.
"$PY" -m pip install --quiet --no-index --find-links "$CARRY" --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" -r "$CARRY/requirements.txt"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
# JAX takes 90 % of the GPU's memory up front (default 75 %), so the largest batch is the GPU's.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}

status=0
# Run as a file (not -m): the installed wheel is what runs, not the checkout's source.
timeout 470 "$PY" bench/gpu_bench.py "$@" 2>&1 | tee "$LOG" || status=$?
if [ -n "${OUT:-}" ]; then
    cp bench/GPU.md bench/gpu_results.json "$LOG" "$OUT"/ 2>/dev/null || true
    cp actmax_widgets/data/gpu_precision.json "$OUT"/ 2>/dev/null || true
fi
exit "$status"
