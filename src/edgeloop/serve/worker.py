"""One model being served: a Predictor, a bounded queue and an inference thread.

Request threads decode and preprocess, so decoding the next request overlaps
inference of the current one. Without micro-batching, the request thread then
runs inference itself under the model's lock (no thread hand-off on the
latency path); with it, calls go through a queue to the model's own thread,
which groups images of dynamic-batch models. Either way the number of waiting
calls is bounded: past it the call is refused at once (the caller answers
503) instead of memory growing without bound.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgeloop.errors import Overloaded, Unavailable
from edgeloop.predictor import Predictor
from edgeloop.samples import SampleCheck, check_samples
from edgeloop.serve.metrics import Metrics

Tensor = npt.NDArray[np.generic]


@dataclass
class Job:
    """One inference call waiting for the model."""

    inputs: dict[str, Tensor]
    batchable: bool
    future: Future[list[Tensor]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


_STOP = object()


class ModelWorker:
    """Runs inference for one bundle on its own thread."""

    def __init__(
        self,
        predictor: Predictor,
        source: str,
        metrics: Metrics,
        queue_size: int = 32,
        max_batch: int = 1,
        max_wait_ms: float = 2.0,
        check: bool = True,
    ) -> None:
        self.predictor = predictor
        self.name = predictor.bundle.manifest.name
        self.version = predictor.bundle.manifest.version
        self.source = source
        self.metrics = metrics
        self.max_batch = max_batch if predictor.batchable else 1
        self.max_wait_s = max_wait_ms / 1000
        self._queue: queue.Queue[Job | object] = queue.Queue(maxsize=queue_size)
        self._accepting = True
        self._idle = threading.Condition()
        self._in_flight = 0
        self._waiting = 0
        self._queue_size = queue_size
        self._infer_lock = threading.Lock()
        self.samples: list[SampleCheck] = check_samples(predictor) if check else []
        self.ready = all(c.ok for c in self.samples)
        self._thread = threading.Thread(target=self._run, name=f"infer-{self.name}", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() + self._waiting

    def run(self, inputs: dict[str, Tensor], batchable: bool, timeout_s: float) -> list[Tensor]:
        """Infer and wait for the result (blocking: call from a request thread).

        Raises:
            Overloaded: too many calls waiting already.
            TimeoutError: no result within ``timeout_s``.
        """
        if batchable and self.max_batch > 1:
            future = self.submit(inputs, batchable=True)
            try:
                return future.result(timeout=timeout_s)
            except concurrent.futures.TimeoutError:  # not the builtin before Python 3.11
                future.cancel()
                raise TimeoutError(f"model '{self.name}' did not answer in {timeout_s:g} s") from None
        enqueued = time.perf_counter()
        with self._idle:
            if not self._accepting:
                raise Unavailable(f"model '{self.name}' is being unloaded; retry to reach its replacement")
            if self._waiting >= self._queue_size:
                self._reject()
            self._waiting += 1
            self._in_flight += 1
        try:
            if not self._infer_lock.acquire(timeout=timeout_s):
                raise TimeoutError(f"model '{self.name}' was busy for {timeout_s:g} s")
            try:
                start = time.perf_counter()
                self._observe("queue", start - enqueued)
                outputs = self.predictor.backend.infer(inputs)
                self._observe("infer", time.perf_counter() - start)
                return outputs
            finally:
                self._infer_lock.release()
        finally:
            with self._idle:
                self._waiting -= 1
            self._done()

    def _observe(self, stage: str, seconds: float) -> None:
        self.metrics.observe(
            "edgeloop_stage_seconds", "Seconds per request and stage", seconds, model=self.name, stage=stage
        )

    def _reject(self) -> None:
        self.metrics.inc(
            "edgeloop_rejections_total",
            "Requests refused, by reason (queue_full, timeout)",
            model=self.name,
            reason="queue_full",
        )
        raise Overloaded(
            f"model '{self.name}' is busy ({self._queue_size} requests waiting); retry after a moment"
        )

    def submit(self, inputs: dict[str, Tensor], batchable: bool = False) -> Future[list[Tensor]]:
        """Queue an inference call; raises Overloaded when the queue is full."""
        if not self._accepting:
            raise Unavailable(f"model '{self.name}' is being unloaded; retry to reach its replacement")
        job = Job(inputs, batchable and self.max_batch > 1)
        with self._idle:
            self._in_flight += 1
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._done()
            self._reject()
        return job.future

    def _done(self, count: int = 1) -> None:
        with self._idle:
            self._in_flight -= count
            if self._in_flight <= 0:
                self._idle.notify_all()

    def _collect(self, first: Job) -> list[Job]:
        jobs = [first]
        if not first.batchable:
            return jobs
        deadline = time.perf_counter() + self.max_wait_s
        while len(jobs) < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                nxt = (
                    self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if nxt is _STOP or not isinstance(nxt, Job) or not nxt.batchable:
                self._run_jobs([nxt] if isinstance(nxt, Job) else [])
                if nxt is _STOP:
                    self._queue.put(_STOP)
                break
            jobs.append(nxt)
        return jobs

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Job)
            self._run_jobs(self._collect(item))

    def _run_jobs(self, jobs: list[Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        start = time.perf_counter()
        for job in jobs:
            self.metrics.observe(
                "edgeloop_stage_seconds",
                "Seconds per request and stage",
                start - job.enqueued,
                model=self.name,
                stage="queue",
            )
        try:
            with self._infer_lock:  # one inference at a time, batched or inline
                if len(jobs) == 1:
                    outputs = [self.predictor.backend.infer(jobs[0].inputs)]
                else:
                    name = self.predictor.input_name
                    batch = np.concatenate([j.inputs[name] for j in jobs])
                    raw = self.predictor.backend.infer({name: batch})
                    outputs = [[o[i : i + 1] for o in raw] for i in range(len(jobs))]
        except Exception as exc:  # the backend's error goes back to each caller
            for job in jobs:
                job.future.set_exception(exc)
        else:
            for job, out in zip(jobs, outputs, strict=True):
                job.future.set_result(out)
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.observe(
                "edgeloop_stage_seconds",
                "Seconds per request and stage",
                elapsed,
                model=self.name,
                stage="infer",
            )
            self._done(len(jobs))

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Stop accepting work and wait for queued and running calls to finish."""
        self._accepting = False
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight <= 0, timeout=timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Drain, stop the thread and release the model. Safe to call more than once."""
        self.drain(timeout_s)
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
        self.predictor.close()
