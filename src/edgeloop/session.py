"""One inference session: how the server and the video pipeline share a model.

``InferenceSession`` owns everything between "a tensor is ready" and "its
outputs are back": the bound on waiting calls (``Overloaded`` past it), the
backend's concurrency rule (``Capabilities``: thread-safe backends take up to
``workers`` calls at once, the others one at a time), micro-batching of
single-image calls on dynamic-batch models, and the timing hooks (queue wait,
inference time, batch size).

Two ways in, with the same accounting:

- ``run(tensor)``: on the caller's thread, no hand-off (the latency path the
  server and the pipeline use when not batching);
- ``submit(tensor) -> Future``: through a queue to the session's own thread,
  which groups waiting images into one call (``max_batch``, ``max_wait_ms``).
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edgeloop.errors import Overloaded, Unavailable
from edgeloop.predictor import Predictor

Tensor = npt.NDArray[np.generic]
Inputs = Tensor | Mapping[str, Tensor]


class SessionMetrics(Protocol):
    """Where a session reports what it measures (the server's metrics; a no-op by default)."""

    def stage(self, stage: str, seconds: float) -> None:
        """Seconds a call spent in ``stage``: ``queue`` (per call) or ``infer`` (per backend call)."""

    def batch(self, size: int) -> None:
        """Images in one backend call."""

    def rejected(self, reason: str) -> None:
        """A call refused (``queue_full``)."""


class NoMetrics:
    """Measures nothing."""

    def stage(self, stage: str, seconds: float) -> None:
        pass

    def batch(self, size: int) -> None:
        pass

    def rejected(self, reason: str) -> None:
        pass


@dataclass
class _Job:
    inputs: dict[str, Tensor]
    batchable: bool
    future: Future[list[Tensor]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


_STOP = object()


class InferenceSession:
    """Runs a predictor's backend for several callers, within the backend's concurrency rule.

    Args:
        predictor: the model; the session does not close it (its owner does).
        queue_size: calls that may wait (not yet running) before ``Overloaded``.
        max_batch: images per backend call for ``submit`` (1 on fixed-batch models and on
            backends without dynamic shapes).
        max_wait_ms: how long the session thread waits to fill a batch.
        workers: backend calls at once on a thread-safe backend (always 1 on the others).
        metrics: timing hooks.
        name: the model's name, for messages.
    """

    def __init__(
        self,
        predictor: Predictor,
        queue_size: int = 32,
        max_batch: int = 1,
        max_wait_ms: float = 2.0,
        workers: int = 1,
        metrics: SessionMetrics | None = None,
        name: str | None = None,
    ) -> None:
        if queue_size < 1 or max_batch < 1 or workers < 1:
            raise ValueError("queue_size, max_batch and workers must be at least 1")
        self.predictor = predictor
        self.name = name or predictor.bundle.manifest.name
        capabilities = predictor.capabilities
        self.max_batch = max_batch if predictor.batchable and capabilities.dynamic_shapes else 1
        self.max_wait_s = max_wait_ms / 1000
        self.queue_size = queue_size
        self.concurrency = workers if capabilities.thread_safe else 1
        self.metrics: SessionMetrics = metrics or NoMetrics()
        # A plain lock when one call at a time: the cheapest on the latency path.
        self._slots: threading.Lock | threading.BoundedSemaphore = (
            threading.Lock() if self.concurrency == 1 else threading.BoundedSemaphore(self.concurrency)
        )
        self._state = threading.Condition()
        self._waiting = 0  # admitted, not yet running
        self._in_flight = 0  # admitted, not yet finished
        self._accepting = True
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def queue_depth(self) -> int:
        """Calls waiting for the model now."""
        return self._waiting

    def run(self, inputs: Inputs, timeout_s: float | None = None, batchable: bool = True) -> list[Tensor]:
        """Infer and return the outputs (blocking). Single images of a batching session go
        through ``submit`` to share calls; everything else runs on this thread.

        Args:
            inputs: a (1, ...) tensor for the model's input, or tensors by input name.
            timeout_s: give up waiting after this long (None: wait).
            batchable: whether this call may share a backend call with others.

        Raises:
            Overloaded: ``queue_size`` calls are waiting already.
            Unavailable: the session is closed.
            TimeoutError: no result within ``timeout_s``.
            BackendError: the backend failed.
        """
        named = self._named(inputs)
        if self.max_batch > 1 and self._batchable(named, batchable):
            future = self._submit(named, True)
            try:
                return future.result(timeout=timeout_s)
            except concurrent.futures.TimeoutError:  # not the builtin before Python 3.11
                future.cancel()
                raise TimeoutError(f"model '{self.name}' did not answer in {timeout_s:g} s") from None
        return self._run_here(named, timeout_s)

    def submit(self, inputs: Inputs, batchable: bool = True) -> Future[list[Tensor]]:
        """Queue an inference call for the session's thread; the future holds the outputs.

        Raises:
            Overloaded: ``queue_size`` calls are waiting already.
            Unavailable: the session is closed.
        """
        named = self._named(inputs)
        return self._submit(named, self.max_batch > 1 and self._batchable(named, batchable))

    def _named(self, inputs: Inputs) -> dict[str, Tensor]:
        if isinstance(inputs, np.ndarray):
            return {self.predictor.input_name: inputs}
        return dict(inputs)

    def _batchable(self, named: dict[str, Tensor], batchable: bool) -> bool:
        tensor = named.get(self.predictor.input_name)
        return batchable and len(named) == 1 and tensor is not None and tensor.shape[:1] == (1,)

    def _admit(self) -> None:
        with self._state:
            if not self._accepting:
                raise Unavailable(
                    f"model '{self.name}' is being unloaded (its session is closed); "
                    "retry to reach its replacement"
                )
            if self._waiting >= self.queue_size:
                self.metrics.rejected("queue_full")
                raise Overloaded(
                    f"model '{self.name}' is busy ({self.queue_size} requests waiting); retry after a moment"
                )
            self._waiting += 1
            self._in_flight += 1

    def _started(self, count: int) -> None:
        with self._state:
            self._waiting -= count

    def _finished(self, count: int) -> None:
        with self._state:
            self._in_flight -= count
            if self._in_flight <= 0:
                self._state.notify_all()

    def _run_here(self, named: dict[str, Tensor], timeout_s: float | None) -> list[Tensor]:
        enqueued = time.perf_counter()
        self._admit()
        try:
            # (Lock and Semaphore disagree on what "no timeout" is: say it by not passing one.)
            acquired = self._slots.acquire() if timeout_s is None else self._slots.acquire(timeout=timeout_s)
            self._started(1)
            if not acquired:
                raise TimeoutError(f"model '{self.name}' was busy for {timeout_s:g} s")
            try:
                start = time.perf_counter()
                self.metrics.stage("queue", start - enqueued)
                outputs = self.predictor.backend.infer(named)
                self.metrics.stage("infer", time.perf_counter() - start)
                self.metrics.batch(1)
                return outputs
            finally:
                self._slots.release()
        finally:
            self._finished(1)

    def _submit(self, named: dict[str, Tensor], batchable: bool) -> Future[list[Tensor]]:
        self._admit()
        job = _Job(named, batchable)
        self._start_thread()
        self._queue.put(job)
        return job.future

    def _start_thread(self) -> None:
        with self._state:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"infer-{self.name}", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, _Job)
            jobs, stop = self._collect(item)
            self._run_jobs(jobs)
            if stop:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` and the batchable jobs that arrive within ``max_wait_ms``, up to ``max_batch``."""
        jobs = [first]
        if not first.batchable:
            return jobs, False
        deadline = time.perf_counter() + self.max_wait_s
        while len(jobs) < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return jobs, True
            assert isinstance(item, _Job)
            if not item.batchable:
                self._run_jobs(jobs)
                return [item], False
            jobs.append(item)
        return jobs, False

    def _run_jobs(self, jobs: list[_Job]) -> None:
        self._started(len(jobs))
        live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        try:
            if live:
                self._infer_jobs(live)
        finally:
            self._finished(len(jobs))

    def _infer_jobs(self, jobs: list[_Job]) -> None:
        start = time.perf_counter()
        for job in jobs:
            self.metrics.stage("queue", start - job.enqueued)
        try:
            with self._slots:  # the same rule as calls on request threads
                if len(jobs) == 1:
                    outputs = [self.predictor.backend.infer(jobs[0].inputs)]
                else:
                    name = self.predictor.input_name
                    raw = self.predictor.backend.infer({name: np.concatenate([j.inputs[name] for j in jobs])})
                    outputs = [[o[i : i + 1] for o in raw] for i in range(len(jobs))]
        except Exception as exc:  # the backend's error goes back to each caller
            for job in jobs:
                job.future.set_exception(exc)
        else:
            for job, out in zip(jobs, outputs, strict=True):
                job.future.set_result(out)
        finally:
            self.metrics.stage("infer", time.perf_counter() - start)
            self.metrics.batch(len(jobs))

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Stop accepting calls and wait for the admitted ones to finish; False on timeout."""
        with self._state:
            self._accepting = False
            return self._state.wait_for(lambda: self._in_flight <= 0, timeout=timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Drain and stop the session's thread. Safe to call more than once; the predictor stays open."""
        self.drain(timeout_s)
        with self._state:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout_s)

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
