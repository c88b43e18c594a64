"""A local Ray cluster that this process starts, owns and stops (the Ray engine's default).

Why not plain ``ray.init()``: its raylet waits a fixed ~15 s for the dashboard agent to write its
port files and aborts when the agent is slower to start, which it was on this small busy machine
(24-40 s with 2 cores under load; see ``_SKIP_RFC3987``). ``ray start --head`` takes most of
those ports (fewer waits) and runs in an environment of its own (the skipped module, TensorFlow's
thread counts) without touching this process's. ``--block`` keeps that command in the
foreground: stopping it (by its pid) stops every Ray process it started, and nothing else.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Ray imports jsonschema, which imports rfc3987_syntax when it is installed (JupyterLab brings it):
# building its grammar took 6.7 of import ray's 8.4 CPU seconds here, in each of Ray's helper
# processes, enough to miss the raylet's fixed wait for the dashboard agent. Ray never uses it,
# so the cluster's processes see this module instead (jsonschema skips an optional format
# checker whose import fails).
_SKIP_RFC3987 = 'raise ImportError("rfc3987_syntax is skipped in the atlas\'s Ray cluster (slow to import, unused)")\n'
START_TIMEOUT_S = 300  # a cold start on a loaded 2-core machine took ~60 s
STARTED = "Ray runtime started"


class LocalCluster:
    """``ray start --head --block`` with ``cpus`` CPUs; ``threads`` TensorFlow threads per worker.
    ``close()`` disconnects and stops it."""

    def __init__(self, cpus: int, threads: int, object_store_bytes: int = 256 * 2**20):
        import ray

        self.ray = ray
        gcs, *agents = _free_ports(5)
        folder = pathlib.Path(tempfile.mkdtemp(prefix="actmax-ray-"))
        self.log = folder / "ray-start.log"
        (folder / "rfc3987_syntax.py").write_text(_SKIP_RFC3987)
        path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_agent_register_timeout_ms": "300000", "RAY_USAGE_STATS_ENABLED": "0",
               # This cluster listens on 127.0.0.1 only and lives as long as the build: no
               # token (a driver that connects after `ray start` is refused the one Ray makes).
               "RAY_AUTH_MODE": "disabled"}
        command = [_ray_executable(), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                   f"--port={gcs}", f"--num-cpus={cpus}",
                   f"--object-store-memory={object_store_bytes}", "--include-dashboard=false",
                   "--disable-usage-stats", f"--dashboard-agent-grpc-port={agents[0]}",
                   f"--dashboard-agent-listen-port={agents[1]}", f"--runtime-env-agent-port={agents[2]}",
                   f"--metrics-export-port={agents[3]}"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_started()
            ray.init(address=f"127.0.0.1:{gcs}", _node_ip_address="127.0.0.1", log_to_driver=False,
                     logging_level="ERROR")
        except BaseException:
            self.close()
            raise

    def _wait_started(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if STARTED in text:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the local Ray cluster did not start (exit {self.process.returncode}): "
                                   f"{_last_lines(text)} (full log: {self.log})")
            time.sleep(0.2)
        raise TimeoutError(f"the local Ray cluster did not start within {START_TIMEOUT_S} s (log: {self.log})")

    def close(self):
        """Disconnect, then stop ``ray start --block`` (SIGTERM: it stops the processes it started)."""
        if self.ray.is_initialized():
            self.ray.shutdown()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log.parent, ignore_errors=True)


def _ray_executable() -> str:
    """The ``ray`` command of this Python's environment."""
    beside = pathlib.Path(sys.executable).with_name("ray")
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if not found:
        raise ImportError("engine='ray' needs the `ray` command of Ray's package: pip install 'actmax-widgets[ray]'")
    return found


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _last_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])
