"""One model being served: a Predictor and the InferenceSession that shares it between requests.

Request threads decode and preprocess, so decoding the next request overlaps
inference of the current one. Without micro-batching, the request thread then
runs inference itself through the session (no thread hand-off on the latency
path); with it, calls go through the session's queue to its own thread, which
groups images of dynamic-batch models. Either way the number of waiting calls
is bounded: past it the call is refused at once (``Overloaded``, the caller
answers 503) instead of memory growing without bound.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

from edgeloop.agent.contract import UsageRecorder
from edgeloop.errors import Overloaded, Unavailable
from edgeloop.predictor import Predictor, Result
from edgeloop.samples import SampleCheck, check_samples
from edgeloop.serve.metrics import Metrics
from edgeloop.session import InferenceSession
from edgeloop.stream.follow import usage

Tensor = npt.NDArray[np.generic]

__all__ = ["ModelWorker", "Overloaded", "Unavailable"]


class _SessionMetrics:
    """The session's timing hooks, as the server's metrics for one model."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.metrics = metrics
        self.model = model

    def stage(self, stage: str, seconds: float) -> None:
        self.metrics.observe(
            "edgeloop_stage_seconds", "Seconds per request and stage", seconds, model=self.model, stage=stage
        )

    def batch(self, size: int) -> None:
        self.metrics.inc(
            "edgeloop_batched_images_total", "Images run, summed over inference calls", size, model=self.model
        )

    def rejected(self, reason: str) -> None:
        self.metrics.inc(
            "edgeloop_rejections_total",
            "Requests refused, by reason (queue_full, timeout)",
            model=self.model,
            reason=reason,
        )


class ModelWorker:
    """Serves one bundle: its predictor, golden-sample state and inference session."""

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
        self.session = InferenceSession(
            predictor,
            queue_size=queue_size,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            metrics=_SessionMetrics(metrics, self.name),
            name=self.name,
        )
        self.max_batch = self.session.max_batch
        self.samples: list[SampleCheck] = check_samples(predictor) if check else []
        self.ready = all(c.ok for c in self.samples)
        # Set when serving from a models folder: every request is recorded against this version.
        self.key: str | None = None
        self.recorder: UsageRecorder | None = None

    def record(self, seconds: float, ok: bool, result: Result | None = None) -> None:
        """Tell the recorder (if any) about one request that took ``seconds``."""
        if self.recorder is None or self.key is None:
            return
        detections, confidence_sum = usage(result) if result is not None else (0, 0.0)
        self.recorder.record(self.key, seconds * 1000, ok, detections, confidence_sum)

    @property
    def queue_depth(self) -> int:
        return self.session.queue_depth

    def run(self, inputs: dict[str, Tensor], batchable: bool, timeout_s: float) -> list[Tensor]:
        """Infer and wait for the result (blocking: call from a request thread).

        Raises:
            Overloaded: too many calls waiting already.
            Unavailable: the model is being unloaded.
            TimeoutError: no result within ``timeout_s``.
        """
        return self.session.run(inputs, timeout_s, batchable)

    def submit(self, inputs: dict[str, Tensor], batchable: bool = False) -> Future[list[Tensor]]:
        """Queue an inference call; raises Overloaded when the queue is full."""
        return self.session.submit(inputs, batchable)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Stop accepting work and wait for queued and running calls to finish."""
        return self.session.drain(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Drain, stop the session and release the model. Safe to call more than once."""
        self.session.close(timeout_s)
        self.predictor.close()
