"""Running one request through a served model, on a request thread.

decode + preprocess here, inference on the model's own thread (queued,
maybe batched), postprocess back here: the event loop never does CPU work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgeloop.errors import ImageError, InferenceTimeout, RequestError, Unavailable
from edgeloop.imaging import ImageArray
from edgeloop.postprocess import DecodeOptions
from edgeloop.predictor import Result
from edgeloop.serve.worker import ModelWorker


@dataclass(frozen=True)
class Outcome:
    """A finished image request."""

    result: Result
    image: ImageArray
    size_wh: tuple[int, int]
    seconds: float
    version: str = ""  # the model version that answered


def _infer(
    worker: ModelWorker, inputs: dict[str, npt.NDArray[np.generic]], batchable: bool, deadline: float
) -> list[npt.NDArray[np.generic]]:
    try:
        return worker.run(inputs, batchable, max(deadline - time.perf_counter(), 0.001))
    except TimeoutError:
        worker.metrics.inc(
            "edgeloop_rejections_total",
            "Requests refused, by reason (queue_full, timeout)",
            model=worker.name,
            reason="timeout",
        )
        raise InferenceTimeout(f"model '{worker.name}' did not answer in time; retry later") from None


def run_image(worker: ModelWorker, data: bytes, options: DecodeOptions, timeout_s: float) -> Outcome:
    """Decode, preprocess, infer (queued), postprocess one encoded image (recorded when following)."""
    start = time.perf_counter()
    try:
        outcome = _run_image(worker, data, options, timeout_s, start)
    except _NOT_THE_MODELS:
        raise
    except Exception:
        worker.record(time.perf_counter() - start, False)
        raise
    worker.record(outcome.seconds, True, outcome.result)
    return outcome


# Failures that say nothing about the model: the client's bad input, and a worker being replaced
# (ModelManager.call runs the request again on its successor).
_NOT_THE_MODELS = (RequestError, ImageError, Unavailable)


def _run_image(
    worker: ModelWorker, data: bytes, options: DecodeOptions, timeout_s: float, start: float
) -> Outcome:
    deadline = start + timeout_s
    predictor = worker.predictor
    image, size_wh = predictor.decode(data)
    t1 = time.perf_counter()
    prepared = predictor.prepare(image, size_wh)
    t2 = time.perf_counter()
    outputs = _infer(worker, {predictor.input_name: prepared.tensor}, True, deadline)
    t3 = time.perf_counter()
    result = predictor.finish(outputs, prepared, options)
    t4 = time.perf_counter()
    for stage, seconds in (
        ("decode", t1 - start),
        ("preprocess", t2 - t1),
        ("postprocess", t4 - t3),
        ("total", t4 - start),
    ):
        worker.metrics.observe(
            "edgeloop_stage_seconds", "Seconds per request and stage", seconds, model=worker.name, stage=stage
        )
    return Outcome(result, image, size_wh, t4 - start, worker.version)


def run_tensors(
    worker: ModelWorker, inputs: dict[str, npt.NDArray[np.generic]], timeout_s: float
) -> list[npt.NDArray[np.generic]]:
    """Run raw named input tensors (Open Inference Protocol) through the model's queue."""
    start = time.perf_counter()
    try:
        outputs = _infer(worker, inputs, False, start + timeout_s)
    except _NOT_THE_MODELS:
        raise
    except Exception:
        worker.record(time.perf_counter() - start, False)
        raise
    worker.record(time.perf_counter() - start, True)
    worker.metrics.observe(
        "edgeloop_stage_seconds",
        "Seconds per request and stage",
        time.perf_counter() - start,
        model=worker.name,
        stage="total",
    )
    return outputs
