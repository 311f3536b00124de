"""Minimal checks for when the full ones (``edgeloop.agent.healthcheck``, ``edgeloop.agent.window``) are
not installed: the candidate must load and answer once; the window only waits.

``LoadCheck`` opens the candidate with the ONNX Runtime backend and runs its
golden samples if it has any; ``WaitWindow`` waits ``duration_s`` and fails only
when something else moved ``current`` away meanwhile.
"""

from __future__ import annotations

import threading
from pathlib import Path

from edgeloop.agent.contract import Verdict, VersionRef
from edgeloop.agent.models import ModelsDir
from edgeloop.errors import EdgeloopError


class LoadCheck:
    """The candidate loads in the Predictor and its golden samples (if any) match."""

    def __call__(self, candidate: Path, previous: Path | None) -> Verdict:
        from edgeloop.predictor import Predictor
        from edgeloop.samples import check_samples

        try:
            with Predictor(candidate) as predictor:
                failed = [c for c in check_samples(predictor) if not c.ok]
        except (EdgeloopError, OSError, RuntimeError, ValueError) as exc:
            return Verdict(False, f"does not load: {exc}")
        if failed:
            return Verdict(
                False, f"{len(failed)} golden sample(s) differ, first {failed[0].file}: {failed[0].detail}"
            )
        return Verdict(True)


class WaitWindow:
    """Wait ``duration_s`` (or until told to stop); fail if ``current`` no longer names the new version."""

    def __init__(self, duration_s: float = 0.0) -> None:
        self.duration_s = duration_s

    def __call__(
        self, models_dir: Path, new: VersionRef, old: VersionRef | None, stop: threading.Event
    ) -> Verdict:
        if stop.wait(self.duration_s):
            return Verdict(False, "stopped before the window ended")
        if ModelsDir(models_dir).current_key() != new.key:
            return Verdict(False, f"current no longer names {new.key}")
        return Verdict(True, detail={"consumers": 0, "waited_s": self.duration_s})
