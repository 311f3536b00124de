"""Acceptance (issue 14), scaled down: capture + sync + hub under kill -9 of the device and of the hub,
with a proxy that drops, resets, stalls and cuts connections for the whole run: every captured
sample is at the hub exactly once, whole, and both databases pass their checks.

benchmarks/hub_faults.py runs the full counts (10,000 frames, 100 device kills, 20 hub kills).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgeloop.testing.components import ComponentMissing, skip_missing
from edgeloop.testing.loop_check import HubStore, check_loop
from edgeloop.testing.loop_faults import CRASH_POINTS, LoopOptions, LoopReport, report_table, run_loop


def _assert_clean(report: LoopReport, options: LoopOptions) -> None:
    print(report_table(report))
    assert report.bad() == {}, (report.bad(), report.check.examples, report.drain)
    check = report.check
    assert check.captured == check.at_hub == options.frames
    assert report.device_kills >= options.device_kills
    assert report.hub_kills == options.hub_kills
    assert report.crash_points == dict.fromkeys(CRASH_POINTS, options.crash_rounds)
    faults = sum(v for k, v in report.proxy.items() if k not in ("pass", "cut_live"))
    assert faults >= 1 and report.proxy["cut_live"] >= 1, report.proxy


def test_loop_on_sqlite_under_kills_and_a_bad_network(tmp_path: Path) -> None:
    options = LoopOptions(frames=400, device_kills=8, hub_kills=3, seed=3, fault_rate=0.08, fps=40)
    report = run_loop(tmp_path, options)
    _assert_clean(report, options)

    # The check itself can fail: damage the hub and it is counted.
    data = tmp_path / "hub-data"
    db = sqlite3.connect(data / "hub.db")
    (gone,) = db.execute("SELECT sha256 FROM samples LIMIT 1").fetchone()
    db.execute("DELETE FROM samples WHERE sha256 = ?", (gone,))
    db.commit()
    db.close()
    blobs = sorted((data / "blobs" / "samples").iterdir())
    blobs[-1].write_bytes(blobs[-1].read_bytes()[:100])
    (data / "blobs" / "samples" / ".tmp-0123").write_bytes(b"x")
    store = HubStore(f"sqlite:///{data / 'hub.db'}", str(data / "blobs"))
    damaged = check_loop(tmp_path / "spool", tmp_path / "kept.log", store, options.frames, options.seed)
    assert (damaged.lost, damaged.duplicated, damaged.leftovers) == (1, 1, 1)  # the row-less blob: 1
    assert damaged.corrupt == (0 if blobs[-1].name == gone else 1)


def test_loop_on_postgresql_under_kills_and_a_bad_network(tmp_path: Path) -> None:
    options = LoopOptions(
        frames=200, device_kills=4, hub_kills=2, seed=5, fault_rate=0.08, fps=40, backend="postgresql"
    )
    try:
        report = run_loop(tmp_path, options)
    except ComponentMissing as exc:
        skip_missing(exc)
    _assert_clean(report, options)
