"""StatsWindow over real StatsFile files: good traffic passes; errors, p95 and drift fail it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edgeloop.agent.contract import Verdict, VersionRef, Window
from edgeloop.agent.stats import StatsFile, VersionStats
from edgeloop.agent.window import StatsWindow, WindowRules, judge
from edgeloop.testing.bad_models import live_frames
from edgeloop.testing.traffic import live_release
from tests.agent.conftest import Corpus

OLD = VersionRef("00000001-aaaaaaaaaaaa", "colour", "1", 1)
NEW = VersionRef("00000002-bbbbbbbbbbbb", "colour", "2", 2)


@contextmanager
def feeding(
    stats: StatsFile, key: str, latency_ms: float, error_every: int, detections: int, confidence: float
) -> Iterator[None]:
    """A thread recording ~2000 requests a second for ``key`` while the block runs."""
    stop = threading.Event()

    def run() -> None:
        i = 0
        while not stop.is_set():
            for _ in range(20):
                i += 1
                ok = not error_every or i % error_every != 0
                stats.record(key, latency_ms + (i % 7) * 0.1, ok, detections, detections * confidence)
            stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _served_before(stats: StatsFile) -> None:
    stats.serving(OLD.key)
    for i in range(500):
        stats.record(OLD.key, 10.0 + (i % 7) * 0.1, i % 100 != 0, 3, 3 * 0.8)
    stats.flush()


def _window(models: Path, duration: float = 1.5, **kw: object) -> Verdict:
    window: Window = StatsWindow(duration_s=duration, poll_s=0.1, pickup_timeout_s=5.0, **kw)  # type: ignore[arg-type]
    return window(models, NEW, OLD, threading.Event())


def test_no_serving_process_passes_with_zero_consumers(tmp_path: Path) -> None:
    verdict = _window(tmp_path)
    assert verdict.ok and verdict.detail == {"consumers": 0}


def test_good_traffic_passes(tmp_path: Path) -> None:
    with StatsFile(tmp_path, "serve") as stats:
        _served_before(stats)
        stats.serving(NEW.key)
        with feeding(stats, NEW.key, 10.0, error_every=100, detections=3, confidence=0.8):
            verdict = _window(tmp_path)
    assert verdict.ok, verdict.reason
    assert verdict.detail["consumers"] == 1 and verdict.detail["requests"] >= 50
    assert verdict.detail["previous_requests"] == 500


@pytest.mark.parametrize(
    ("latency", "error_every", "detections", "confidence", "reason"),
    [
        (10.0, 3, 3, 0.8, "error rate 33.3% over"),
        (60.0, 0, 3, 0.8, "p95 latency 60.6 ms is 5.7x the previous version's 10.6 ms"),
        (10.0, 0, 1, 0.8, "detection rate drifted -67%: 1.00 per request vs 3.00 before"),
        (10.0, 0, 3, 0.5, "mean confidence drifted from 0.800 to 0.500"),
    ],
)
def test_bad_traffic_fails_early(
    tmp_path: Path, latency: float, error_every: int, detections: int, confidence: float, reason: str
) -> None:
    with StatsFile(tmp_path, "serve") as stats:
        _served_before(stats)
        stats.serving(NEW.key)
        start = time.monotonic()
        with feeding(stats, NEW.key, latency, error_every, detections, confidence):
            verdict = _window(tmp_path, duration=60.0)
    assert not verdict.ok
    assert reason in verdict.reason, verdict.reason
    assert time.monotonic() - start < 10.0  # clearly broken: it did not wait out the 60 s


def test_load_failure_fails_at_once(tmp_path: Path) -> None:
    with StatsFile(tmp_path, "serve") as stats:
        _served_before(stats)
        stats.load_failed(NEW.key, "BackendError: ONNX Runtime could not load model.onnx")
        verdict = _window(tmp_path, duration=60.0)
    assert not verdict.ok
    assert verdict.reason.startswith(f"a serving process failed to load {NEW.key}: serve-")
    assert verdict.reason.endswith("BackendError: ONNX Runtime could not load model.onnx")


def test_a_process_that_never_switches_fails_the_pickup(tmp_path: Path) -> None:
    with StatsFile(tmp_path, "serve") as stats:
        _served_before(stats)
        window = StatsWindow(duration_s=60.0, poll_s=0.1, pickup_timeout_s=0.5)
        verdict = window(tmp_path, NEW, OLD, threading.Event())
    assert not verdict.ok
    assert f"did not switch to {NEW.key} in 0.5 s (serve-" in verdict.reason


def test_stop_ends_the_window(tmp_path: Path) -> None:
    stop = threading.Event()
    with StatsFile(tmp_path, "serve") as stats:
        _served_before(stats)
        stats.serving(NEW.key)
        threading.Timer(0.3, stop.set).start()
        verdict = StatsWindow(duration_s=60.0, poll_s=0.1)(tmp_path, NEW, OLD, stop)
    assert not verdict.ok and verdict.detail["stopped"] is True


def test_too_little_traffic_is_not_judged() -> None:
    rules = WindowRules()
    few = VersionStats(requests=10, errors=10)
    assert judge(few, None, rules) is None
    assert (
        judge(VersionStats(requests=100, errors=6), None, rules)
        == "error rate 6.0% over 5.0% (6 of 100 failed)"
    )


def _live(corpus: Corpus, tmp_path: Path, candidate: Path) -> Verdict:
    frames = live_frames(seed=3, colours=("red", "green", "blue", "blue"))
    window = StatsWindow(duration_s=3.0, poll_s=0.2, pickup_timeout_s=10.0)
    return live_release(tmp_path / "models", corpus.good, candidate, window, frames)


def test_worse_live_is_caught_by_the_window(corpus: Corpus, tmp_path: Path) -> None:
    verdict = _live(corpus, tmp_path, corpus.bad["worse_live"])
    assert not verdict.ok
    assert "detection rate drifted -" in verdict.reason, verdict.reason


def test_good_live_release_passes_the_window(corpus: Corpus, tmp_path: Path) -> None:
    verdict = _live(corpus, tmp_path, corpus.good_v2)
    assert verdict.ok, verdict.reason
    assert verdict.detail["consumers"] == 1 and verdict.detail["requests"] >= 50


def test_processes_that_go_away_after_the_switch_fail_the_window(tmp_path: Path) -> None:
    """A model that kills the serving processes must not pass for want of anyone to watch."""
    stats = StatsFile(tmp_path, "serve")
    _served_before(stats)
    result: list[Verdict] = []
    window = StatsWindow(duration_s=0.5, poll_s=0.05, pickup_timeout_s=1.0)
    thread = threading.Thread(target=lambda: result.append(window(tmp_path, NEW, OLD, threading.Event())))
    thread.start()
    time.sleep(0.3)
    stats.close()  # gone before it served NEW
    thread.join(10)
    assert result and not result[0].ok, result
    assert "stopped reporting" in result[0].reason


def test_a_process_that_crashed_just_before_the_window_fails_it(tmp_path: Path) -> None:
    """A serving process killed by the new version before the window's first look is no pass."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: serves, then dies without closing its file
        stats = StatsFile(tmp_path, "serve")
        stats.serving(OLD.key)
        stats.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    window = StatsWindow(duration_s=0.5, poll_s=0.05, pickup_timeout_s=1.0)
    verdict = window(tmp_path, NEW, OLD, threading.Event())
    assert not verdict.ok and "stopped reporting" in verdict.reason, verdict
