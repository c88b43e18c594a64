"""atlas.build on Ray (issue #15): a local cluster of 2 one-CPU workers (started once for the
module) gives the same images as the local engine; a worker killed with SIGKILL in the middle of
a task still ends in a complete atlas (Ray retries the task); an address where no cluster
answers is a clear error within 10 s."""
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import ray

from actmax_widgets.atlas import build, engines
from core_helpers import SIZE, conv_layers, functional, zero_mean_kernels

pytestmark = pytest.mark.ray
SETTINGS = {"steps": 8, "image_size": SIZE, "seed": 3, "style": "fourier", "progress": False, "variants": 0}
WITH_VARIANTS = {**SETTINGS, "variants": 2}


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module, started as build starts its own (2 CPUs, 1 TensorFlow thread
    per task: 2 workers)."""
    started = engines.start_local_cluster(workers=2)
    yield started
    started.close()


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return zero_mean_kernels(functional((SIZE, SIZE, 3), conv_layers(), "conv_net"))


@pytest.fixture(scope="module")
def local_atlas(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    build(model, out, layers=["conv1", "conv2"], filters_per_chunk=3, **WITH_VARIANTS)
    return out


def images_of(out, kind="images"):
    """``{(layer, filter): PNG bytes}`` of the main images, or of the variants (a tuple each)."""
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    found = {}
    for entry in manifest["chunks"].values():
        for f, names in zip(entry["filters"], entry.get(kind) or []):
            names = [names] if kind == "images" else names
            found[(entry["layer"], f)] = tuple((Path(out) / name).read_bytes() for name in names)
    return found


def test_ray_gives_the_local_engines_images(cluster, model, local_atlas, tmp_path):
    summary = build(model, tmp_path, layers=["conv1", "conv2"], filters_per_chunk=3, engine="ray", **WITH_VARIANTS)
    assert summary.engine == "ray" and summary.chunks_computed == 6
    ray_images, local_images = images_of(tmp_path), images_of(local_atlas)
    assert len(ray_images) == 16 and ray_images == local_images  # PNG bytes: pixel for pixel
    ray_variants = images_of(tmp_path, "variants")
    assert len(ray_variants) == 16 and all(len(v) == 2 for v in ray_variants.values())
    assert ray_variants == images_of(local_atlas, "variants")


def busy_workers():
    """Pids of Ray workers running an atlas task now (Ray titles a busy worker 'ray::<task>')."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                title = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::_ray_compute_chunk"):
                pids.append(int(entry.name))
    return pids


def test_a_worker_killed_mid_task_still_ends_in_a_complete_atlas(cluster, model, local_atlas, tmp_path):
    killed = []

    def kill_one_busy_worker():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in busy_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    # Chunks of 2 (not 3): the warm workers compile a new step, so the kill lands mid-task.
    summary = build(model, tmp_path, layers=["conv1", "conv2"], filters_per_chunk=2, engine="ray", **SETTINGS)
    killer.join()
    assert killed, "no busy worker was seen to kill"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # it is dead
    assert summary.chunks_computed == summary.chunks_total == 8
    assert images_of(tmp_path) == images_of(local_atlas)


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A closed port; an address no Ray is at (a proxy answers any TCP connect on this machine:
# the check must be a Ray-level answer, not a socket connect).
@pytest.mark.parametrize("address", [f"127.0.0.1:{closed_port()}", "10.255.255.1:6379"])
def test_an_address_where_nothing_answers_is_a_clear_error_within_10_s(model, tmp_path, address):
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"address='{address}': no Ray cluster answers there \(.+\).*ray start --head"):
        build(model, tmp_path / "a", layers=["conv1"], engine="ray", address=address, **SETTINGS)
    assert time.monotonic() - started < 10
    assert not ray.is_initialized() or ray.get_runtime_context().gcs_address != address


def test_a_malformed_address_is_named(model, tmp_path):
    with pytest.raises(ValueError, match=r"address='head-node' is not 'host:port'.*10.0.0.5:6379"):
        build(model, tmp_path / "a", layers=["conv1"], engine="ray", address="head-node", **SETTINGS)
