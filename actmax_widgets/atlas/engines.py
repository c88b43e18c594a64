"""Where the atlas's chunks are computed: ``local`` (in this process) or ``ray`` (Ray tasks).

Both run the same pure function, ``compute_chunk(model, chunk, settings, images)``, and hand its
payload to the driver's ``on_done(chunk, payload)``, which writes it (``store``). Ray is imported
only in ``RayEngine``: the local engine needs nothing beyond the package.

Ray's own machinery does the distributing: tasks, retries of a task whose worker died
(``max_retries``), and ``ray.wait`` to take results as they finish. A Keras model does not pickle
reliably, so it travels as the bytes of a saved ``.keras`` file (``ray.put`` once) and each worker
process loads it once.
"""
from __future__ import annotations

import os
import tempfile
import time

from . import natural, variants

ENGINES = ("local", "ray")
ADDRESS_TIMEOUT_S = 5.0  # how long an address= may take to answer before it is called dead


def compute_chunk(model, chunk, settings: dict, images=None) -> dict:
    """The images (uint8), final activations and activation histories of ``chunk``'s filters,
    their diverse variants when ``settings['variants']`` asks for them, and, when ``images`` is
    given, each filter's top natural patches."""
    started = time.perf_counter()
    n = len(chunk.filters)
    result = _visualize(model, chunk, _padded(chunk, settings["filters_per_chunk"]), settings,
                        batch_size=settings["filters_per_chunk"])
    payload = {"images": result.images[:n], "activations": result.final_activations[:n],
               "history": result.activation_history[:, :n], "image_size": chunk.image_size,
               "examples": None, "variants": None, "pid": os.getpid()}
    if settings.get("variants"):
        payload["variants"], payload["variant_activations"] = variants.compute(model, chunk, settings, _visualize)
    if images is not None:
        patches, activations = natural.examples(model, chunk, images, settings)
        payload["examples"] = patches
        payload["example_activations"] = activations.round(5).tolist()
    payload["seconds"] = time.perf_counter() - started
    return payload


def _visualize(model, chunk, filters, settings, batch_size, diversity=0.0, seed=None):
    """One ``visualize_filters`` call with the atlas's style as its recipe (``diversity`` on top)."""
    from ..visualization import visualize_filters

    return visualize_filters(model, chunk.layer, filters, max_iter=settings["steps"], image_size=chunk.image_size,
                             seed=settings["seed"] if seed is None else seed, batch_size=batch_size, keep_frames=0,
                             **variants.recipe_arguments(settings["style"], diversity))


def _padded(chunk, filters_per_chunk) -> list:
    """A layer's last, shorter chunk filled up with copies of its own filters to the full chunk
    size, so the whole layer runs on one compiled step (a new batch size compiles anew: seconds
    to minutes). Each filter's image is keyed by (seed, filter) and a repeated filter's first
    copy keeps its key, so the padding changes no image; the copies are dropped."""
    filters = chunk.filters
    if chunk.start == 0 or len(filters) >= filters_per_chunk:
        return filters
    return filters + [filters[i % len(filters)] for i in range(filters_per_chunk - len(filters))]


class LocalEngine:
    """Chunks one after another in this process (the GPU when TensorFlow sees one); the compiled
    step is cached per layer and filter count by ``visualize_filters`` itself."""

    name = "local"

    def __init__(self, model, images=None):
        self.model, self.images = model, images

    def run(self, chunks, settings, on_done):
        for chunk in chunks:
            on_done(chunk, compute_chunk(self.model, chunk, settings, self.images))

    def close(self):
        pass


def check_address(address):
    """Raise ConnectionError within ``ADDRESS_TIMEOUT_S`` when no Ray cluster answers at
    ``address`` ('host:port' or 'ray://host:port'); 'auto' and None are left to Ray. A TCP
    connect alone is not enough: a proxy may accept it (this machine's does, for any address)
    and ``ray.init`` would then wait a minute or more."""
    if address in (None, "auto", "local"):
        return
    text = address.split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address={address!r} is not 'host:port': give the Ray head's address, e.g. "
                         "address='10.0.0.5:6379' (or 'ray://10.0.0.5:10001'), or None for a local cluster")
    try:
        import grpc  # noqa: F401 - Ray's own dependency: without it there is no Ray to reach
    except ImportError:
        raise ImportError("engine='ray' needs Ray: pip install 'actmax-widgets[ray]' (or 'ray>=2.9'), "
                          "or use engine='local'") from None
    problem = _grpc_probe(f"{host}:{port}")
    if problem:
        raise ConnectionError(
            f"address={address!r}: no Ray cluster answers there ({problem}): start one with "
            f"`ray start --head --port={port}` on {host}, check the host and port, or leave address=None to "
            "start a local cluster")


def _grpc_probe(target):
    """None when a gRPC server (Ray's GCS answers the standard health check) answers at
    ``target`` within ``ADDRESS_TIMEOUT_S``, else why not, in words."""
    import grpc  # Ray's own dependency

    channel = grpc.insecure_channel(target)
    try:
        channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=ADDRESS_TIMEOUT_S)
        return None
    except grpc.RpcError as error:
        details = error.details() or ""
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return f"{error.code().name.lower().replace('_', ' ')}: {details[:120]}"
        if "http2 header with status" in details:  # a web server or proxy, not gRPC
            return f"something answered, but not Ray: {details[:120]}"
        return None  # a gRPC server that answered (e.g. a Ray client server without the health check)
    finally:
        channel.close()


def cpus_per_task(workers=None) -> int:
    """This machine's CPUs shared by ``workers`` tasks at a time (default: one CPU per task)."""
    return max(1, (os.cpu_count() or 1) // workers) if workers else 1


def start_local_cluster(workers=None):
    """A local Ray cluster (``ray_cluster.LocalCluster``) with this machine's CPUs; each task's
    TensorFlow uses only its share of them (else 2 workers x 2 threads fight for 2 cores)."""
    from .ray_cluster import LocalCluster

    return LocalCluster(cpus=os.cpu_count() or 1, threads=cpus_per_task(workers))


class RayEngine:
    """Chunks as Ray tasks on a local cluster (``address=None``) or an existing one."""

    name = "ray"

    def __init__(self, model, images=None, address=None, workers=None, max_retries=3):
        try:
            import ray
        except ImportError:
            raise ImportError("engine='ray' needs Ray: pip install 'actmax-widgets[ray]' (or 'ray>=2.9'), "
                              "or use engine='local'") from None
        check_address(address)
        self.ray, self.max_retries = ray, max_retries
        self.started, self.cluster = not ray.is_initialized(), None
        if not self.started and address not in (None, "auto", "local"):
            connected = ray.get_runtime_context().gcs_address
            if connected.split("://")[-1] != address.split("://")[-1]:
                raise ValueError(f"address={address!r}: this process is already connected to the Ray cluster at "
                                 f"{connected!r}: call ray.shutdown() first, or leave address=None to use it")
        if self.started and address not in (None, "local"):
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        elif self.started:
            self.cluster = start_local_cluster(workers)
        self.cpus_per_task = cpus_per_task(workers) if self.cluster else 1
        try:
            self.gpus = ray.cluster_resources().get("GPU", 0) > 0
            self.model_ref = ray.put(_model_bytes(model))
            # Once for every task (an array is not sent again per chunk); a folder as an absolute
            # path, which workers started elsewhere can still find.
            self.images_ref = ray.put(os.path.abspath(os.path.expanduser(images))
                                      if isinstance(images, (str, os.PathLike)) else images)
        except BaseException:
            self.close()  # a model that cannot be saved: leave no cluster behind
            raise
        self.task = ray.remote(_ray_compute_chunk)

    def run(self, chunks, settings, on_done):
        """Submit every chunk, then write each as it finishes (``ray.wait``); a task whose worker
        was killed is resubmitted by Ray (``max_retries``)."""
        resources = {"num_gpus": 1} if self.gpus else {"num_cpus": self.cpus_per_task}
        task = self.task.options(max_retries=self.max_retries, **resources)
        pending = {task.remote(self.model_ref, chunk, settings, self.images_ref): chunk for chunk in chunks}
        try:
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in done:
                    on_done(pending.pop(ref), self._result(ref))
        finally:
            for ref in pending:  # stopped early: nothing more to compute
                self.ray.cancel(ref, force=True)

    def _result(self, ref):
        """A task's result; its own error (not Ray's wrapper with the worker's whole trace)."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, Exception):
                raise error.cause from None
            raise

    def close(self):
        """Stop what this engine started: the local cluster, or the connection to address=."""
        if self.cluster is not None:
            self.cluster.close()
        elif self.started:
            self.ray.shutdown()


def _model_bytes(model) -> bytes:
    """The model as the bytes of a ``.keras`` file (what workers load)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


_WORKER_MODELS = {}  # in a Ray worker process: hash of the model's bytes -> loaded model


def _ray_compute_chunk(model_bytes, chunk, settings, images):
    """A Ray task: ``compute_chunk`` on the model the bytes hold (loaded once per worker)."""
    import hashlib

    key = hashlib.blake2b(model_bytes, digest_size=16).hexdigest()
    if key not in _WORKER_MODELS:
        import keras

        import actmax_widgets  # noqa: F401 - the package's quiet TensorFlow start-up

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            with open(path, "wb") as file:
                file.write(model_bytes)
            _WORKER_MODELS.clear()  # one model per worker: a new atlas frees the last one
            _WORKER_MODELS[key] = keras.models.load_model(path, compile=False)
    return compute_chunk(_WORKER_MODELS[key], chunk, settings, images)
