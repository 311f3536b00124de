"""The heartbeat body: frames/s over the interval, live backlog, free disk, health and its reason."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgeloop.improve.acker import SpoolAcker
from edgeloop.improve.heartbeat import (
    LOW_DISK_BYTES,
    DeviceFacts,
    Heartbeats,
    SpoolFacts,
    capture_drops,
    health_of,
    spool_facts,
)
from edgeloop.testing.sync_faults import fill_spool


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backlog_counts_live_rows_and_the_disk_is_the_spools(tmp_path: Path) -> None:
    shas = fill_spool(tmp_path / "spool", 4, seed=1)
    with SpoolAcker(tmp_path / "spool") as acker:
        assert acker.ack(shas[0])
        held_bytes = acker.backlog()[1]
    facts = spool_facts(tmp_path / "spool")
    assert (facts.backlog, facts.backlog_bytes) == (3, held_bytes) and held_bytes > 0
    assert (facts.model_name, facts.model_version) == ("synthetic", "1")
    free = shutil.disk_usage(tmp_path).free
    assert facts.free_disk_bytes is not None and abs(facts.free_disk_bytes - free) < 64 * 2**20
    assert spool_facts(tmp_path / "none") == SpoolFacts(free_disk_bytes=None)


def test_frames_per_second_and_new_drops_are_per_interval(tmp_path: Path) -> None:
    clock, state = Clock(), {"frames": 0, "drops": 0}

    def facts() -> DeviceFacts:
        return DeviceFacts("det", "7", state["frames"], state["drops"])

    beats = Heartbeats(tmp_path, facts, lambda: ({"sent": 2, "corrupt": 0}, None), clock)
    clock.now, state["frames"] = 102.0, 50  # since the start: 25 frames/s
    first = beats.next()
    assert first["fps"] == 25.0 and first["health"] == "ok" and first["model_version"] == "7"
    assert first["model_name"] == "det" and first["sync"] == {"sent": 2, "corrupt": 0}
    assert first["uptime_s"] == 2.0 and first["backlog"] == 0
    clock.now, state["frames"], state["drops"] = 106.0, 90, 3
    second = beats.next()
    assert second["fps"] == 10.0 and second["health"] == "degraded" and second["capture_drops"] == 3
    assert second["reason"] == "capture dropped 3 frame(s) since the last heartbeat"
    clock.now, state["frames"] = 107.0, 90
    third = beats.next()
    assert third["fps"] == 0.0 and third["health"] == "ok"  # no new drops: ok again


def test_a_process_that_sees_no_frames_reports_no_rate(tmp_path: Path) -> None:
    body = Heartbeats(tmp_path).next()
    assert body["fps"] is None and body["model_version"] == "" and body["health"] == "ok"


def test_health_names_what_is_wrong() -> None:
    roomy = SpoolFacts(free_disk_bytes=10 * LOW_DISK_BYTES)
    assert health_of(DeviceFacts(), roomy, 0, 0) == ("ok", "")
    assert health_of(DeviceFacts(problem="capture is off: disk full"), roomy, 0, 0) == (
        "error",
        "capture is off: disk full",
    )
    low = SpoolFacts(free_disk_bytes=LOW_DISK_BYTES // 2)
    assert health_of(DeviceFacts(), low, 0, 2) == (
        "degraded",
        "128 MiB free on the spool's disk; 2 spool file(s) do not match their sha256",
    )
    assert capture_drops({"skipped:busy": 2, "errors": 1, "kept": 9}) == 3


def test_a_stopped_sync_is_an_error(tmp_path: Path) -> None:
    body = Heartbeats(tmp_path, sync=lambda: ({}, "the hub refused the token (401)")).next()
    assert (body["health"], body["reason"]) == ("error", "sync: the hub refused the token (401)")
