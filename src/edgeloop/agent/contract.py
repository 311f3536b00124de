"""Types shared by the agent, its checks, its update sources, and the processes that serve its model.

States (reported to the hub, each with a reason)::

    idle -> downloading -> verifying -> staged -> health_check -> switched -> window -> committed
                         \\-> rejected (before the switch)            \\-> rolled_back (after it)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

STATES = (
    "idle",
    "downloading",
    "verifying",
    "staged",
    "health_check",
    "switched",
    "window",
    "committed",
    "rejected",
    "rolled_back",
)
FINAL_STATES = ("committed", "rejected", "rolled_back")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``reason`` is one line a person can act on when ``ok`` is False."""

    ok: bool
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRef:
    """One installed version: ``key`` is its folder name under ``<models>/versions/``."""

    key: str
    name: str
    version: str
    counter: int | None


@dataclass(frozen=True)
class Offer:
    """An update a source proposes: a bundle tar of ``size_bytes`` with sha256 ``sha256``."""

    name: str
    version: str
    counter: int | None
    size_bytes: int
    sha256: str
    source: str  # "hub" or "folder"
    rollout: int | None = None
    location: str = ""  # the hub's download path, or the dropped file's path


Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class UpdateSource(Protocol):
    """Where offers come from: the hub (poll with ETag, MQTT wake) or a watched folder."""

    def next_offer(self, timeout_s: float) -> Offer | None:
        """Block up to ``timeout_s`` for an offer the device does not have yet."""

    def fetch(self, offer: Offer, dest: Path, progress: Progress | None = None) -> Path:
        """The complete bundle tar at ``dest`` (resuming a partial one); raises on failure."""

    def report(
        self, offer: Offer | None, state: str, reason: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        """Tell whoever watches (never raises: queue and retry)."""

    def close(self) -> None: ...


class HealthCheck(Protocol):
    """Runs the candidate in a separate process before the switch."""

    def __call__(self, candidate: Path, previous: Path | None) -> Verdict: ...


class Window(Protocol):
    """Watches the switched version against the previous one, in the serving processes."""

    def __call__(
        self, models_dir: Path, new: VersionRef, old: VersionRef | None, stop: threading.Event
    ) -> Verdict: ...


class UsageRecorder(Protocol):
    """What ``serve --models`` / ``run --models`` tell the agent about the model they serve."""

    def serving(self, key: str) -> None:
        """``key`` is now the version that answers."""

    def load_failed(self, key: str, error: str) -> None:
        """Loading ``key`` failed; the previous version keeps answering."""

    def record(self, key: str, latency_ms: float, ok: bool, detections: int, confidence_sum: float) -> None:
        """One request or frame served by ``key``."""

    def close(self) -> None: ...
