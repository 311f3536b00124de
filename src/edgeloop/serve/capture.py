"""Capture from requests (``edgeloop serve --capture POLICY --spool DIR``): off unless configured.

After a detection request's response is computed, its image and detections are
queued for the capture thread (``improve.hook.CaptureHook``); queuing never
waits and never fails the request. A request field ``flag=true`` (or
``flagged``) marks the frame for the ``flagged`` sampler.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeloop.errors import RequestError
from edgeloop.improve.capture import ModelRef
from edgeloop.improve.hook import CaptureHook
from edgeloop.improve.policy import load_policy
from edgeloop.serve.config import ServeConfig
from edgeloop.serve.inference import Outcome
from edgeloop.serve.worker import ModelWorker
from edgeloop.types import Detections

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off", "")


def open_capture(config: ServeConfig) -> CaptureHook | None:
    """The server's capture hook when ``--capture`` and ``--spool`` are set, else None.

    Raises:
        ConfigError: an invalid policy file.
        SpoolError: the spool cannot be opened.
    """
    if config.capture_policy is None or config.spool_dir is None:
        return None
    return CaptureHook.open(load_policy(config.capture_policy), config.spool_dir, config.device_id)


def flag_param(params: dict[str, Any]) -> bool:
    """Whether the request marked its image for capture (``flag`` or ``flagged``: true/false)."""
    value = params.get("flag", params.get("flagged"))
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise RequestError(f"'flag' must be true or false, got {value!r}")


def offer(hook: CaptureHook | None, worker: ModelWorker, outcome: Outcome, flagged: bool) -> None:
    """Queue a finished detection request for capture (returns at once; classifications are skipped)."""
    if hook is None or not isinstance(outcome.result, Detections):
        return
    detections = outcome.result
    height, width = outcome.image.shape[:2]
    if (width, height) != outcome.size_wh:  # a JPEG decoded at reduced size: boxes into its pixels
        factor = np.array([width / outcome.size_wh[0], height / outcome.size_wh[1]] * 2, np.float32)
        detections = Detections(
            detections.xyxy * factor, detections.confidence, detections.class_id, detections.names
        )
    hook.submit(outcome.image, detections, ModelRef(worker.name, str(worker.version)), flagged)


def status(hook: CaptureHook | None, config: ServeConfig) -> dict[str, Any]:
    """What ``GET /v1/capture`` answers: whether capture is on, and its counters."""
    if hook is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "spool": config.spool_dir,
        "device_id": hook.capture.device_id,
        "counters": hook.counters(),
        "last_error": hook.last_error,
    }
