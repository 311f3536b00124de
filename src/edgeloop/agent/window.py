"""The window after the switch: the serving processes' own numbers for the new version against the old one's.

``StatsWindow(...)(models_dir, new, old, stop)`` reads ``<models>/health/*.json``
(written by ``edgeloop.agent.stats.StatsFile`` in ``serve --models`` / ``run --models``):

1. No live serving process (and none that crashed in the last ``stale_after_s``): nothing can be
   watched; ok with detail ``{"consumers": 0}``.
2. The previous version's numbers are taken as they are at the start (the processes'
   counters for ``old.key``: requests, errors, detections, confidence, recent latencies).
3. It waits until every live process reports ``new.key`` as the one answering; a process
   that reports a load failure for it fails the window at once with that error; none
   switching within ``pickup_timeout_s`` fails it too, and so does every process going away
   (crashed or stopped after the switch) and none coming back within ``pickup_timeout_s``.
4. For ``duration_s`` it polls the new version's numbers and checks ``WindowRules``. A rule
   is judged only with at least ``min_requests`` requests; before the end a rule fails the
   window only when broken by ``early_factor`` times its limit ("clearly broken"), at the
   end by its limit. Drift rules need ``min_requests`` of the previous version too.

``stop`` ends the window early with ok=False ("stopped"): nothing was proven.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edgeloop.agent.contract import Verdict, VersionRef
from edgeloop.agent.stats import STALE_AFTER_S, HealthSnapshot, VersionStats, read_stats


class WindowRules(BaseModel):
    """What the new version's live numbers must meet (defaults in brackets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_requests: int = Field(default=50, ge=1, description="requests before any rule is judged [50]")
    max_error_rate: float = Field(default=0.05, ge=0, le=1, description="failed requests share [0.05]")
    max_error_rate_increase: float = Field(
        default=0.02, ge=0, le=1, description="or the previous version's share plus this, if higher [0.02]"
    )
    max_p95_ratio: float | None = Field(default=2.0, gt=0, description="p95 latency vs the previous [2.0]")
    min_p95_delta_ms: float = Field(default=5.0, ge=0, description="p95 increases below this never fail [5]")
    max_p95_ms: float | None = Field(default=None, gt=0, description="absolute p95 budget [none]")
    max_detection_rate_drift: float | None = Field(
        default=0.25, ge=0, description="relative change of detections per request [0.25 = 25%]"
    )
    max_confidence_drift: float | None = Field(
        default=0.1, ge=0, description="absolute change of the mean detection confidence [0.1]"
    )
    min_detections: int = Field(default=20, ge=1, description="detections before confidence is compared [20]")
    early_factor: float = Field(default=1.5, ge=1, description="before the end, fail only past limit x this")


def _stats_detail(prefix: str, s: VersionStats) -> dict[str, Any]:
    p95 = s.p95_ms()
    conf = s.mean_confidence
    return {
        f"{prefix}requests": s.requests,
        f"{prefix}error_rate": round(s.error_rate, 4),
        f"{prefix}p95_ms": None if p95 is None else round(p95, 3),
        f"{prefix}detection_rate": round(s.detection_rate, 4),
        f"{prefix}mean_confidence": None if conf is None else round(conf, 4),
    }


def judge(new: VersionStats, old: VersionStats | None, rules: WindowRules, factor: float = 1.0) -> str | None:
    """The first rule ``new`` breaks against ``old`` (limits times ``factor``), or None."""
    if new.requests < rules.min_requests:
        return None
    limit = max(rules.max_error_rate, (old.error_rate if old else 0.0) + rules.max_error_rate_increase)
    limit = min(1.0, limit * factor)
    if new.error_rate > limit:
        return f"error rate {new.error_rate:.1%} over {limit:.1%} ({new.errors} of {new.requests} failed)"
    p95 = new.p95_ms()
    if p95 is not None and rules.max_p95_ms is not None and p95 > rules.max_p95_ms * factor:
        return f"p95 latency {p95:.1f} ms over the budget of {rules.max_p95_ms * factor:g} ms"
    comparable = old is not None and old.requests >= rules.min_requests
    if not comparable or old is None:
        return None
    old_p95 = old.p95_ms()
    if p95 is not None and old_p95 is not None and rules.max_p95_ratio is not None:
        ratio = p95 / old_p95 if old_p95 > 0 else float("inf")
        if ratio > rules.max_p95_ratio * factor and p95 - old_p95 > rules.min_p95_delta_ms:
            return (
                f"p95 latency {p95:.1f} ms is {ratio:.1f}x the previous version's {old_p95:.1f} ms "
                f"(limit {rules.max_p95_ratio * factor:g}x)"
            )
    if rules.max_detection_rate_drift is not None and old.detection_rate > 0:
        drift = (new.detection_rate - old.detection_rate) / old.detection_rate
        if abs(drift) > rules.max_detection_rate_drift * factor:
            return (
                f"detection rate drifted {drift:+.0%}: {new.detection_rate:.2f} per request vs "
                f"{old.detection_rate:.2f} before (limit ±{rules.max_detection_rate_drift * factor:.0%})"
            )
    new_conf, old_conf = new.mean_confidence, old.mean_confidence
    if (
        rules.max_confidence_drift is not None
        and new_conf is not None
        and old_conf is not None
        and new.detections >= rules.min_detections
        and old.detections >= rules.min_detections
        and abs(new_conf - old_conf) > rules.max_confidence_drift * factor
    ):
        return (
            f"mean confidence drifted from {old_conf:.3f} to {new_conf:.3f} "
            f"(limit ±{rules.max_confidence_drift * factor:g})"
        )
    return None


class StatsWindow:
    """A ``Window`` over the serving processes' ``health/*.json`` files.

    Args:
        duration_s: how long the new version is watched after every process switched to it.
        rules: the limits (``WindowRules()`` defaults when None).
        poll_s: how often the files are read.
        pickup_timeout_s: how long the processes may take to start serving the new version.
        stale_after_s: a file not rewritten for this long is a process that is gone.
    """

    def __init__(
        self,
        duration_s: float = 600.0,
        rules: WindowRules | None = None,
        poll_s: float = 0.5,
        pickup_timeout_s: float = 60.0,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.duration_s = duration_s
        self.rules = rules or WindowRules()
        self.poll_s = poll_s
        self.pickup_timeout_s = pickup_timeout_s
        self.stale_after_s = stale_after_s

    def _read(self, models_dir: Path) -> HealthSnapshot:
        return read_stats(models_dir, self.stale_after_s)

    def __call__(
        self, models_dir: Path, new: VersionRef, old: VersionRef | None, stop: threading.Event
    ) -> Verdict:
        snap = self._read(models_dir)
        if snap.consumers == 0 and not snap.crashed:
            return Verdict(True, "", {"consumers": 0})
        # A process that crashed just now (between the switch and this read) is waited for like
        # one that has yet to pick the version up: it must come back serving it, or the window fails.
        before = snap.version(old.key) if old is not None else None
        detail: dict[str, Any] = {"consumers": snap.consumers}
        if before is not None:
            detail |= _stats_detail("previous_", before)
        problem = self._pickup(models_dir, new, stop, detail)
        if problem is not None:
            return problem
        deadline = time.monotonic() + self.duration_s
        gone_since: float | None = None
        while True:
            snap = self._read(models_dir)
            if snap.consumers == 0:  # all of them died or stopped: wait as long as for a pickup
                gone_since = gone_since if gone_since is not None else time.monotonic()
                if time.monotonic() - gone_since > self.pickup_timeout_s:
                    return Verdict(
                        False,
                        f"every serving process stopped reporting while serving {new.key} "
                        f"and none came back within {self.pickup_timeout_s:g} s (crashed or stopped)",
                        detail | {"consumers": 0},
                    )
            else:
                gone_since = None
            now = snap.version(new.key)
            detail |= _stats_detail("", now) | {"consumers": snap.consumers}
            failure = snap.load_failure(new.key)
            if failure is not None:
                return Verdict(False, f"a serving process failed to load {new.key}: {failure}", detail)
            ended = time.monotonic() >= deadline
            why = judge(now, before, self.rules, 1.0 if ended else self.rules.early_factor)
            if why is not None:
                return Verdict(False, why, detail)
            if ended and gone_since is None:  # nobody left to watch at the end proves nothing
                if now.requests < self.rules.min_requests:
                    detail["judged"] = (
                        f"only {now.requests} requests (< {self.rules.min_requests}): not judged"
                    )
                return Verdict(True, "", detail)
            wait = self.poll_s if ended else min(self.poll_s, max(0.0, deadline - time.monotonic()))
            if stop.wait(wait):
                return Verdict(False, "window stopped before it ended", detail | {"stopped": True})

    def _pickup(
        self, models_dir: Path, new: VersionRef, stop: threading.Event, detail: dict[str, Any]
    ) -> Verdict | None:
        """None once every live process serves ``new.key``; else the failing verdict."""
        started = time.monotonic()
        while True:
            snap = self._read(models_dir)
            failure = snap.load_failure(new.key)
            if failure is not None:
                return Verdict(False, f"a serving process failed to load {new.key}: {failure}", detail)
            serving = snap.serving_keys()
            behind = {p: k for p, k in serving.items() if k != new.key}
            if serving and not behind:
                detail["pickup_s"] = round(time.monotonic() - started, 3)
                return None
            if not serving and time.monotonic() - started > self.pickup_timeout_s:
                # They were there at the switch: a model that kills them (or keeps them from
                # starting again) must not pass for want of anyone to watch.
                return Verdict(
                    False,
                    f"every serving process stopped reporting after the switch and none served {new.key} "
                    f"within {self.pickup_timeout_s:g} s (crashed or stopped)",
                    detail | {"consumers": 0},
                )
            if behind and time.monotonic() - started > self.pickup_timeout_s:
                who = ", ".join(f"{p} serves {k}" for p, k in sorted(behind.items()))
                return Verdict(
                    False,
                    f"serving processes did not switch to {new.key} in {self.pickup_timeout_s:g} s ({who})",
                    detail,
                )
            if stop.wait(self.poll_s):
                return Verdict(False, "window stopped before it ended", detail | {"stopped": True})
