"""Capture sink: every frame's result goes to one ``improve.Capture`` (samplers, policy, spool).

``edgeloop run ... --capture policy.yaml --spool DIR`` adds one; ``--sink capture:DIR``
is a shorthand with ``DEFAULT_POLICY`` (frames with a detection, at most one per
second, a 1,000-frame budget). The capture runs on its own thread behind a bounded
queue (``improve.hook.CaptureHook``): the pipeline never waits on the disk, and a
capture error is counted, never raised. docs/improve.md has the policy format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.improve.capture import ModelRef
from edgeloop.improve.hook import CaptureHook
from edgeloop.improve.policy import CapturePolicy, policy_from_dict
from edgeloop.improve.spool import SpoolUnavailable
from edgeloop.stream.frames import FrameResult
from edgeloop.stream.sinks.base import Sink

DEFAULT_POLICY: dict[str, Any] = {
    "samplers": [{"type": "detection_count", "more_than": 0, "min_score": 1.0, "limits": {"per_minute": 60}}],
    "budget": {"max_count": 1000},
}


class CaptureSink(Sink):
    """Offers each frame and its detections to a capture policy; kept frames land in ``spool``.

    Args:
        spool: the spool folder (``edgeloop spool`` reads it).
        policy: the validated capture policy (default: ``DEFAULT_POLICY``).
        device_id: stored with each sample (default: the host name).
        model: the model whose predictions are stored (set before ``open``).
    """

    def __init__(
        self,
        spool: str | Path,
        policy: CapturePolicy | None = None,
        device_id: str | None = None,
        model: ModelRef | None = None,
    ) -> None:
        self.spool = Path(spool)
        self.policy = policy or policy_from_dict(DEFAULT_POLICY, "default capture policy")
        self.device_id = device_id
        self.model = model
        self.hook: CaptureHook | None = None
        self.final: dict[str, int] | None = None
        self.unavailable: str | None = None  # why capture is off for this run

    def open(self) -> None:
        """Open the spool. A disk that refuses it (full, read-only) turns capture off for this
        run (``unavailable`` says why) instead of stopping inference; a spool held by another
        process is still an error."""
        if self.hook is None and self.unavailable is None:
            try:
                self.hook = CaptureHook.open(self.policy, self.spool, self.device_id, self.model)
            except SpoolUnavailable as exc:
                self.unavailable = str(exc)

    def write(self, result: FrameResult) -> None:
        if self.hook is not None:
            self.hook.submit(result.frame.image, result.detections)

    def counters(self) -> dict[str, int]:
        """This run's capture counters (see ``CaptureHook.run_counters``); empty before ``open``."""
        if self.final is not None:
            return dict(self.final)
        return self.hook.run_counters() if self.hook is not None else {}

    def close(self) -> None:
        if self.hook is not None:
            self.hook.close()
            self.final = self.hook.run_counters()
            self.hook = None
