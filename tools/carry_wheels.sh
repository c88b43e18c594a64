#!/usr/bin/env bash
# The wheels bench/gpu.sh installs on a GPU machine that has JAX and PyTorch with CUDA but no
# TensorFlow and no internet: this package (built here), Keras and the small pure-Python packages
# the package needs that the machine's image lacks (tools/carry_wheels.py says which), at the
# versions installed in this checkout's venv. Into .carry/ (git-ignored), under 40 MiB so the
# working tree that travels with them stays under the device's 64 MiB.
#
#   bash tools/carry_wheels.sh              # for the device's Python 3.12
#   CARRY_PYTHONS="312 311" bash tools/carry_wheels.sh   # also this machine's 3.11, to rehearse here
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=${CARRY_DIR:-.carry}
PYTHONS=${CARRY_PYTHONS:-312}
LIMIT_MIB=40

rm -rf "$DEST" && mkdir -p "$DEST"
# The package's own wheel (the widget's JS bundle included when actmax_widgets/static is built).
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" .
mapfile -t NEEDED < <("$PY" tools/carry_wheels.py)
for version in $PYTHONS; do
    # Compiled wheels (optree, psygnal) for that Python on x86-64 Linux; the rest are py3-none-any.
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$DEST" \
        --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        "${NEEDED[@]}"
done
# What gpu.sh installs, by name: pip then picks each wheel built for the Python it runs on.
{ echo "actmax-widgets"; printf '%s\n' "${NEEDED[@]}"; } > "$DEST/requirements.txt"
size_mib=$(( $(du -sb "$DEST" | cut -f1) / 1048576 ))
ls -1 "$DEST"
echo "$(ls "$DEST" | wc -l) wheels, ${size_mib} MiB in $DEST"
if (( size_mib > LIMIT_MIB )); then
    echo "More than ${LIMIT_MIB} MiB: the working tree and the wheels would pass the device's 64 MiB." >&2
    exit 1
fi
