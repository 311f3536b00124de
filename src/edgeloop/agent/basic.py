"""A window that only waits: ``WaitWindow`` waits ``duration_s`` and fails only when something else
moved ``current`` away meanwhile (the fault-injection harness uses it to reach every state fast;
the agent's CLI uses ``edgeloop.agent.window.StatsWindow``)."""

from __future__ import annotations

import threading
from pathlib import Path

from edgeloop.agent.contract import Verdict, VersionRef
from edgeloop.agent.models import ModelsDir


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
