"""Sync into a folder with a real spool: order, exactly once, acks, beside a capturing writer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeloop.improve.acker import SpoolAcker
from edgeloop.improve.background import BackgroundSync
from edgeloop.improve.policy import Budget
from edgeloop.improve.spool import Spool, SpoolError
from edgeloop.improve.sync import Syncer
from edgeloop.improve.sync_targets import TargetOptions, open_target
from edgeloop.testing.sync_faults import check_target, fill_spool, sample_jpeg, sample_record


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_sync_once_sends_every_sample_exactly_once(tmp_path: Path) -> None:
    shas = fill_spool(tmp_path / "spool", 40, seed=1)
    result = _cli("sync", "--spool", str(tmp_path / "spool"), "--to", str(tmp_path / "out"), "--once")
    assert result.returncode == 0, result.stderr
    assert "sent 40 (stored 40, already there 0), acked 40, rejected 0" in result.stderr
    assert "0 still held" in result.stderr
    check = check_target(tmp_path / "out", tmp_path / "spool", set(shas))
    assert (check.at_target, check.lost, check.corrupt, check.unexpected) == (40, 0, 0, 0)
    assert (check.spool_held, check.spool_orphans, check.spool_integrity) == (0, 0, "ok")
    assert check.acked_counter == check.acked_rows == 40
    sidecar = json.loads((tmp_path / "out" / f"{shas[0]}.json").read_text())
    assert sidecar["device_id"] == "sync-test" and sidecar["predictions"]["predictions"][0]["class"] == "car"
    # Nothing left to send: a second run sends nothing and says so.
    again = _cli("sync", "--spool", str(tmp_path / "spool"), "--to", str(tmp_path / "out"), "--once")
    assert again.returncode == 0 and "sent 0" in again.stderr


def test_highest_score_first_then_oldest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = [0.2, 0.9, 0.5, 0.9, 0.1]
    with Spool(tmp_path / "spool") as spool:
        for i, score in enumerate(scores):
            record = sample_record(rng, 100.0 + i)
            record = type(record)(**{**record.__dict__, "score": score})
            spool.add(sample_jpeg(rng), record, Budget())
    with SpoolAcker(tmp_path / "spool") as acker:
        order = [s.record.score for s in acker.pending(10)]
        seqs = [s.seq for s in acker.pending(10)]
    assert order == [0.9, 0.9, 0.5, 0.2, 0.1] and seqs[:2] == [2, 4]


def test_the_target_already_holding_a_sample_is_not_written_again(tmp_path: Path) -> None:
    shas = fill_spool(tmp_path / "spool", 5, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    data = (tmp_path / "spool" / "images" / f"{shas[0]}.jpg").read_bytes()
    (out / f"{shas[0]}.jpg").write_bytes(data)  # e.g. sent before a crash, ack not committed
    with SpoolAcker(tmp_path / "spool") as acker:
        stats = Syncer(acker, open_target("folder", TargetOptions(str(out))), once=True).run()
    assert (stats.sent, stats.stored, stats.duplicate, stats.acked) == (5, 4, 1, 5)


def test_a_corrupt_spool_file_is_never_sent_and_stays(tmp_path: Path) -> None:
    shas = fill_spool(tmp_path / "spool", 4, seed=3)
    bad = tmp_path / "spool" / "images" / f"{shas[1]}.jpg"
    bad.write_bytes(b"\xff\xd8 flipped bits")
    lines: list[str] = []
    with SpoolAcker(tmp_path / "spool") as acker:
        stats = Syncer(
            acker, open_target("folder", TargetOptions(str(tmp_path / "out"))), once=True, log=lines.append
        ).run()
        assert acker.backlog()[0] == 1
    assert stats.sent == 3 and stats.corrupt == 1 and not (tmp_path / "out" / f"{shas[1]}.jpg").exists()
    assert any("does not match its sha256" in line for line in lines)


def test_one_syncer_per_spool(tmp_path: Path) -> None:
    fill_spool(tmp_path / "spool", 1, seed=4)
    with SpoolAcker(tmp_path / "spool"), pytest.raises(SpoolError, match="another sync is already sending"):
        SpoolAcker(tmp_path / "spool")
    with pytest.raises(SpoolError, match="not a spool"):
        SpoolAcker(tmp_path / "nothing")


def test_sync_process_beside_the_capturing_writer_frees_its_budget(tmp_path: Path) -> None:
    """The writer holds the spool's lock; a separate edgeloop sync acks; the writer's budget sees it."""
    rng = np.random.default_rng(5)
    budget = Budget(max_count=10)
    with Spool(tmp_path / "spool") as spool:
        first = [spool.add(sample_jpeg(rng), sample_record(rng, 1.0 + i), budget) for i in range(10)]
        assert spool.size[0] == 10
        result = _cli("sync", "--spool", str(tmp_path / "spool"), "--to", str(tmp_path / "out"), "--once")
        assert result.returncode == 0, result.stderr
        assert spool.size == (0, 0)  # re-read after the other process committed its acks
        more = [spool.add(sample_jpeg(rng), sample_record(rng, 20.0 + i), budget) for i in range(10)]
        assert all(not isinstance(m, str) and m.evicted == () for m in more)  # room again: nothing evicted
        assert spool.counters()["acked"] == 10 and spool.counters().get("evicted", 0) == 0
    assert len(list((tmp_path / "out").glob("*.jpg"))) == len(first) == 10


def test_background_sync_while_capture_writes(tmp_path: Path) -> None:
    """run/serve --hub's shape: capture adds on one thread, sync sends on another, same process."""
    rng = np.random.default_rng(6)
    added: list[str] = []
    with Spool(tmp_path / "spool") as spool:
        sync = BackgroundSync(
            tmp_path / "spool", "folder", TargetOptions(str(tmp_path / "out")), rate_bps=None
        )
        stop = threading.Event()

        def capture() -> None:
            for i in range(60):
                stored = spool.add(sample_jpeg(rng), sample_record(rng, 1.0 + i), Budget(max_count=20))
                if not isinstance(stored, str):
                    added.append(stored.sha256)
                stop.wait(0.005)

        writer = threading.Thread(target=capture)
        writer.start()
        writer.join()
        deadline = 200
        while spool.size[0] and deadline:
            stop.wait(0.05)
            deadline -= 1
        stats = sync.close()
        evicted = set(spool.evicted())
        assert spool.size == (0, 0) and spool.integrity() == "ok" and sync.error is None
    at_target = {p.stem for p in (tmp_path / "out").glob("*.jpg")}
    assert set(added) - evicted <= at_target  # every sample not evicted reached the target
    assert len(set(added) - evicted) <= stats.acked <= len(at_target) <= len(added)
    for path in (tmp_path / "out").glob("*.jpg"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
