"""Which wheels bench/gpu.sh needs carried: the requirements of actmax-widgets (no extras), walked
through this environment's installed packages, minus what the GPU machine's image already holds
(its package list, /work/.library/device/KINDS.md, 2026-11-17: JAX and PyTorch with CUDA, numpy,
scipy, scikit-image, matplotlib, h5py, rich ... but no Keras, no IPython, no TensorFlow).

Prints ``name==version`` per line, pinned to the versions installed here (the ones tested).
"""
from __future__ import annotations

import importlib.metadata as metadata
import re
import sys

from packaging.requirements import Requirement

ON_THE_GPU_IMAGE = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy
portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel
wrapt xarray xxhash yarl zipp
""".split())


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root="actmax-widgets"):
    """``{name: version}`` of ``root`` and everything it requires (extras left out), as installed."""
    found, todo = {}, [root]
    while todo:
        name = normalized(todo.pop())
        if name in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(f"{name} is required but not installed in {sys.prefix}: install the package's "
                     "requirements there first (pip install -e .).")
        found[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


if __name__ == "__main__":
    for name, version in sorted(closure().items()):
        if name not in ON_THE_GPU_IMAGE and name != "actmax-widgets":
            print(f"{name}=={version}")
