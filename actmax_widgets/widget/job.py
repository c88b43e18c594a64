"""Runs one visualization request in a worker thread and reports through callbacks.

The Stop button only works if TensorFlow runs off the kernel's main thread (a blocking loop in
the cell never sees the click), so each run gets a thread and an event to stop it between steps.
The job never prints (a worker's output is lost): everything goes to the listener.
"""
from __future__ import annotations

import atexit
import dataclasses
import threading
import traceback
import weakref

from .. import input_modifiers, model_cut, styles
from ..visualization import visualize_filters

# At most ~8 grid updates a second: enough to look live, cheap for the kernel and the browser.
SNAPSHOT_SECONDS = 0.12


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """Everything one run needs, read from the controls (plain values only)."""

    layer: str
    targets: tuple
    objectives: tuple | None = None  # ``objectives``, one per target (ActMaxWidget(objectives=)): layer unused
    steps: int = 60
    image_size: int = 96
    style: str | None = "fourier"
    grad_modifier: str | None = None
    backprop_modifier: str | None = None
    jitter: float = 0.05
    act_max_weight: float = 1.0
    tv_weight: float = 0.3
    lp_norm_weight: float = 0.0
    linear_output: bool = False
    seed: int | None = None
    batch_size: int = 64
    labels: tuple | None = None
    diversity: float = 0.0  # > 0 with a filter listed several times: its copies are pushed apart
    precision: str = "auto"  # the widget is for looking: bfloat16 where it is clearly faster


def recipe_for(request):
    """The ``Recipe`` of a request: its style with the widget's loss weights, modifiers and
    diversity, and its jitter on top of the style's own transforms."""
    recipe = styles.get(request.style or styles.DEFAULT)
    transforms = recipe.transforms + ((input_modifiers.Jitter(request.jitter),) if request.jitter > 0 else ())
    return recipe.replace(
        act_max_weight=request.act_max_weight, tv_weight=request.tv_weight, lp_norm_weight=request.lp_norm_weight,
        diversity=request.diversity, grad_modifier=request.grad_modifier,
        transforms=transforms).with_backprop_modifier(request.backprop_modifier)


class Listener:
    """What a job reports; the widget implements these (all may be called from the worker)."""

    def on_started(self, request, needs_compile):
        """The run begins; ``needs_compile`` when the step must be traced first (seconds)."""

    def on_snapshot(self, snapshot):
        """A new ``Snapshot``."""

    def on_finished(self, result):
        """The run ended normally or was stopped (``result.stopped``)."""

    def on_cancelled(self, request):
        """The run was stopped (or its job shut down) before its first step: no result."""

    def on_failed(self, error, details):
        """The run raised ``error``; ``details`` is the formatted traceback."""


_JOBS = weakref.WeakSet()


@atexit.register
def _end_threads_at_exit():
    """TensorFlow aborts the process when a thread is still inside an op as Python shuts down
    (a kernel restarted mid-run, a test session ending while a step is traced ahead): stop the
    runs and let steps being traced finish first."""
    for job in list(_JOBS):
        job.shutdown(timeout=60)


class VisualizationJob:
    """One model's runs, one at a time."""

    def __init__(self, model, listener):
        self.model = model
        self.listener = listener
        self._thread = None
        self._stop = threading.Event()
        self._linear_models = {}
        self.result = None
        self.error = None
        self._lock = threading.Lock()  # guards the two below
        self._preparer = None  # the thread tracing steps ahead of Run
        self._pending = None  # the latest request waiting to be prepared
        self.closed = False  # shut down: nothing more is prepared or run
        # An atlas's widget sets ``compute(model, request, **options)``: it computes only the tiles
        # the atlas lacks, judged on the request itself (never on the controls' state, which only
        # the UI thread may read).
        self.compute = None
        _JOBS.add(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def model_for(self, request):
        """The model to optimize: the user's, or a copy with a linear output layer."""
        if not request.linear_output:
            return self.model
        if request.layer not in self._linear_models:
            self._linear_models[request.layer] = model_cut.with_linear_activation(self.model, request.layer)
        return self._linear_models[request.layer]

    def options_for(self, request):
        """``visualize_filters`` keyword arguments for a request."""
        return dict(max_iter=request.steps, image_size=request.image_size, batch_size=request.batch_size,
                    seed=request.seed, labels=list(request.labels) if request.labels else None,
                    precision=request.precision, recipe=recipe_for(request))

    def prepare(self, request):
        """Trace the compiled step ``request`` would run, in the background, so that a Run with
        these settings starts drawing at once instead of after seconds of tracing.

        A one-step run that nobody sees; its errors are dropped (Run reports them). Nothing
        happens while a run is in progress; a newer request replaces one still waiting.
        """
        with self._lock:
            if self.running or self.closed:
                return
            self._pending = request
            if self._preparer is None:
                self._preparer = threading.Thread(target=self._prepare_pending, name="actmax-prepare",
                                                  daemon=True)
                self._preparer.start()

    def shutdown(self, timeout=None):
        """Stop the run, drop what waits to be prepared, and wait for both threads to end; the
        job then refuses to prepare or start anything (a closed widget's job)."""
        with self._lock:
            self.closed = True
            self._pending = None
            preparer = self._preparer
        self._stop.set()
        for thread in (self._thread, preparer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    def wait_prepared(self, timeout=None):
        """Block until no step is being prepared."""
        preparer = self._preparer
        if preparer is not None:
            preparer.join(timeout)

    def _prepare_pending(self):
        while True:
            with self._lock:
                request, self._pending = self._pending, None
                if request is None:
                    self._preparer = None
                    return
            try:
                # seed=0: an unseeded run would draw its seed from NumPy's global generator, which
                # the user's own code may have seeded.
                options = {**self.options_for(request), "max_iter": 1, "seed": 0}
                # self.compute: with an atlas, only the tiles it lacks are traced for.
                self._compute(request, **options)
            except Exception:  # noqa: BLE001 - the real Run reports it
                pass

    def start(self, request, blocking=False):
        """Run ``request``; in a worker thread unless ``blocking`` (then errors propagate).

        A step still being prepared is finished first (the run then reuses it)."""
        self.check_open()
        if self.running:
            raise RuntimeError("A run is in progress: stop() it first.")
        self.result = None  # the previous run's result must not pass for this one's
        self._stop = threading.Event()
        with self._lock:
            # This run replaces a different request still waiting to be prepared. The same one is
            # kept: the preparer traces it and the run reuses it (dropping it would leave a
            # preparer thread that has not picked it up yet with nothing to do).
            if self._pending != request:
                self._pending = None
            preparer = self._preparer
        if blocking:
            self._run(request, self._stop, reraise=True, after=preparer)
            return
        self._thread = threading.Thread(target=self._run, args=(request, self._stop, False, preparer),
                                        name="actmax-run", daemon=True)
        self._thread.start()

    def check_open(self):
        """Raise when the job was shut down (its widget closed)."""
        if self.closed:
            raise RuntimeError("This widget was closed: create a new ActMaxWidget to run again.")

    def stop(self, wait=True, timeout=30.0):
        """Ask the run to stop after the current step; wait for it (at most ``timeout`` seconds,
        None: as long as it takes) unless ``wait=False``."""
        self._stop.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)

    def _compute(self, request, **options):
        """Run ``request`` (its layer's filters, or its objectives) with ``options``."""
        if request.objectives is not None:  # no atlas holds these: always computed
            return visualize_filters(self.model, objectives=list(request.objectives), **options)
        if self.compute is not None:
            return self.compute(self.model_for(request), request, **options)
        return visualize_filters(self.model_for(request), request.layer, list(request.targets), **options)

    def _run(self, request, stop_event, reraise, after=None):
        self.error = None
        # The step being traced in the background is awaited (the run reuses it), but a Stop
        # meanwhile ends the run at once: the trace finishes on its own thread.
        while after is not None and after.is_alive() and not stop_event.is_set():
            after.join(0.1)
        if stop_event.is_set():
            self.listener.on_cancelled(request)
            return
        try:
            options = self.options_for(request)
            result = self._compute(
                request, snapshot_seconds=SNAPSHOT_SECONDS,
                on_snapshot=self.listener.on_snapshot, stop_event=stop_event,
                on_start=lambda info, needs_compile: self.listener.on_started(request, needs_compile),
                **options)
            self.result = result
            self.listener.on_finished(result)
        except Exception as error:  # reported to the widget; the worker must not die silently
            self.error = error
            self.listener.on_failed(error, traceback.format_exc())
            if reraise:
                raise
