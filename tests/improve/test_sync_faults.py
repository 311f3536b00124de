"""Acceptance: kill -9 of edgeloop sync at random moments and at its crash points loses nothing,
doubles nothing, corrupts nothing, while capture keeps writing into the spool.

Scaled down here (15 kills); benchmarks/sync_faults.py runs the full count.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.testing.sync_faults import sync_kill_rounds


def test_kill_9_of_sync_into_a_folder_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = sync_kill_rounds(tmp_path, kills=15, seed=1, initial=150, captured=100, max_delay_s=1.2)
    assert report.kills == 15  # rounds that drained before their kill were run again
    assert report.crash_points == {"sync_uploaded": 1, "acked": 1}
    check = report.check
    assert check.expected == 250
    assert (check.lost, check.duplicated, check.corrupt, check.unexpected) == (0, 0, 0, 0)
    assert check.at_target == 250
    assert (check.spool_held, check.spool_orphans, check.spool_integrity) == (0, 0, "ok")
    assert check.acked_counter == check.acked_rows == 250  # acked exactly once each
