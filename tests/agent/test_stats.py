"""StatsFile writes what a serving process did; read_stats sums the live files and skips dead ones."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from edgeloop.agent.contract import UsageRecorder
from edgeloop.agent.stats import StatsFile, percentile, prune, read_stats


def _wait_for(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_counts_per_version_and_writes_within_a_second(tmp_path: Path) -> None:
    stats = StatsFile(tmp_path, "serve")
    recorder: UsageRecorder = stats
    try:
        recorder.serving("00000001-aaaa")
        for i in range(10):
            recorder.record("00000001-aaaa", float(i + 1), ok=i != 3, detections=2, confidence_sum=1.5)
        recorder.serving("00000002-bbbb")
        recorder.record("00000002-bbbb", 5.0, ok=True, detections=0, confidence_sum=0.0)
        recorder.load_failed("00000003-cccc", "InvalidProtobuf:\n model.onnx is not a model")

        def written() -> bool:
            snap = read_stats(tmp_path)
            return snap.consumers == 1 and snap.version("00000002-bbbb").requests == 1

        _wait_for(written, 3.0)
        snap = read_stats(tmp_path)
        old = snap.version("00000001-aaaa")
        assert (old.requests, old.errors, old.detections) == (10, 1, 20)
        assert old.confidence_sum == 15.0
        assert old.error_rate == 0.1 and old.detection_rate == 2.0 and old.mean_confidence == 0.75
        assert old.p95_ms() == 10.0
        assert snap.serving_keys() == {f"serve-{stats.pid}": "00000002-bbbb"}
        failure = snap.load_failure("00000003-cccc")
        assert failure is not None and "InvalidProtobuf: model.onnx is not a model" in failure
        assert stats.path == tmp_path / "health" / f"serve-{stats.pid}.json"
    finally:
        stats.close()
    # closed: the file stays for a person to read, readers no longer count it as a consumer
    assert json.loads(stats.path.read_text())["closed"] is True
    assert read_stats(tmp_path).consumers == 0


def test_thread_safe_counts(tmp_path: Path) -> None:
    with StatsFile(tmp_path, "run") as stats:

        def hammer() -> None:
            for _ in range(2000):
                stats.record("k", 1.0, ok=True, detections=1, confidence_sum=0.5)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        doc = stats.snapshot()
    assert doc["versions"]["k"]["requests"] == 8000
    assert doc["versions"]["k"]["detections"] == 8000
    assert len(doc["versions"]["k"]["latencies_ms"]) <= 1024


def test_dead_pid_and_stale_files_are_ignored(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from edgeloop.agent.stats import StatsFile;"
        "s = StatsFile(Path(sys.argv[1]), 'serve'); s.serving('k');"
        "s.record('k', 3.0, True, 1, 0.9); s._write(); import os; os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    files = list((tmp_path / "health").glob("serve-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["closed"] is False
    assert read_stats(tmp_path).consumers == 0  # its process is gone
    with StatsFile(tmp_path, "serve") as live:
        live.serving("k")
        assert read_stats(tmp_path).consumers == 1
        assert read_stats(tmp_path, stale_after_s=-1.0).consumers == 0  # not rewritten recently
    assert prune(tmp_path) == 0  # the gone process's file is recent: kept for a person to read
    assert prune(tmp_path, older_than_s=0.0) == 1 and not files[0].exists()
    (tmp_path / "health" / "junk.json").write_text("{not json")
    assert read_stats(tmp_path).consumers == 0
    assert read_stats(tmp_path / "missing").consumers == 0


def test_percentile() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
