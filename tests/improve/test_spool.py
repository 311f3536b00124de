"""Spool: reconciliation on open, deduplication, states, budget eviction, one writer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgeloop.improve import SampleRecord, Spool, SpoolError
from edgeloop.improve.policy import Budget
from edgeloop.improve.records import Stored

NO_LIMIT = Budget(max_count=None, max_bytes=None)


def record(score: float, tags: tuple[str, ...] = ()) -> SampleRecord:
    predictions = {"image": {"width": 4, "height": 4}, "predictions": []}
    return SampleRecord(
        "dev-1", "parts", "3", predictions, "random", score, f"score {score}", tags, 1.5e9, 4, 4
    )


def blob(n: int, size: int = 100) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (size // 32) + bytes(size % 32)


def add(spool: Spool, n: int, score: float, budget: Budget = NO_LIMIT, size: int = 100) -> Stored | str:
    return spool.add(blob(n, size), record(score), budget)


def test_durability_settings_and_record_round_trip(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        first = spool.add(blob(1), record(0.5, ("night",)), NO_LIMIT)
        second = add(spool, 2, 0.7)
        assert isinstance(first, Stored) and isinstance(second, Stored) and second.seq > first.seq
    with Spool(tmp_path) as spool:
        sample = spool.samples()[0]
        assert sample.sha256 == hashlib.sha256(blob(1)).hexdigest() == first.sha256
        assert sample.record == record(0.5, ("night",)) and sample.state == "captured"
        assert spool.path(sample.sha256).read_bytes() == blob(1)
        assert spool.reconciled == {"rows_without_file": 0} and spool.integrity() == "ok"


def test_reconciliation_removes_orphans_and_rows_without_files(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        kept = [add(spool, n, 0.5) for n in range(3)]
    assert all(isinstance(k, Stored) for k in kept)
    (tmp_path / "images" / ("f" * 64 + ".jpg")).write_bytes(b"half a file")  # renamed, row never committed
    (tmp_path / "tmp" / "x.jpg.123.part").write_bytes(b"partial")  # crash before the rename
    spool_file = tmp_path / "images" / f"{kept[1].sha256}.jpg"  # type: ignore[union-attr]
    spool_file.unlink()  # a row whose file vanished (never happens by itself)
    with Spool(tmp_path) as spool:
        assert spool.reconciled == {
            "temp_files_removed": 1,
            "orphan_files_removed": 1,
            "rows_without_file": 1,
        }
        assert [s.sha256 for s in spool.samples()] == [kept[0].sha256, kept[2].sha256]  # type: ignore[union-attr]
        assert spool.size == (2, 200)
        counters = spool.counters()
    assert counters["orphan_files_removed"] == 1 and counters["rows_without_file"] == 1
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(
        f"{k.sha256}.jpg"  # type: ignore[union-attr]
        for k in (kept[0], kept[2])
    )


def test_duplicates_and_states(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        first = add(spool, 1, 0.5)
        assert isinstance(first, Stored)
        assert add(spool, 1, 0.9) == "duplicate"
        spool.mark_queued([first.sha256])
        assert spool.samples("queued")[0].sha256 == first.sha256
        spool.ack(first.sha256)
        assert not spool.path(first.sha256).exists() and spool.size == (0, 0)
        assert spool.samples("acked")[0].sha256 == first.sha256 and spool.samples() == []
        assert add(spool, 1, 0.9) == "duplicate"  # the hub has it: never captured twice
        counters = spool.counters()
    assert counters == {"acked": 1, "dropped:duplicate": 2, "kept": 1}


def test_budget_evicts_lowest_then_oldest(tmp_path: Path) -> None:
    budget = Budget(max_count=3, max_bytes=None)
    with Spool(tmp_path) as spool:
        stored = [add(spool, n, score, budget) for n, score in enumerate([0.5, 0.2, 0.2])]
        hashes = [s.sha256 for s in stored]  # type: ignore[union-attr]
        assert add(spool, 10, 0.1, budget) == "budget"  # below everything held
        tie = add(spool, 11, 0.2, budget)
        assert isinstance(tie, Stored) and tie.evicted == (hashes[1],)  # same value: the older goes
        assert not spool.path(hashes[1]).exists()
        high = add(spool, 12, 0.9, budget)
        assert isinstance(high, Stored) and high.evicted == (hashes[2],)
        assert spool.evicted() == [hashes[1], hashes[2]]
        assert sorted(s.record.score for s in spool.samples()) == [0.2, 0.5, 0.9]
        counters = spool.counters()
    assert counters == {"dropped:budget": 1, "evicted": 2, "kept": 5}


def test_byte_budget_evicts_as_many_as_needed(tmp_path: Path) -> None:
    budget = Budget(max_count=None, max_bytes=1000)
    with Spool(tmp_path) as spool:
        for n in range(4):
            assert isinstance(add(spool, n, 0.1 * (n + 1), budget, size=250), Stored)
        assert add(spool, 9, 0.9, budget, size=1001) == "budget"  # can never fit
        big = add(spool, 10, 0.35, budget, size=480)  # needs two out: 0.1 and 0.2 are below 0.35
        assert isinstance(big, Stored) and len(big.evicted) == 2
        assert add(spool, 11, 0.32, budget, size=600) == "budget"  # would have to evict 0.35
        assert spool.size == (3, 980)


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolError, match="in use by another process"):
        Spool(tmp_path)
    Spool(tmp_path).close()  # released on close


def test_an_evicted_image_can_come_back(tmp_path: Path) -> None:
    """Deduplication covers samples held and acked; an evicted one may be captured (and evicted) again."""
    budget = Budget(max_count=1, max_bytes=None)
    with Spool(tmp_path) as spool:
        first = add(spool, 1, 0.1, budget)
        assert isinstance(add(spool, 2, 0.5, budget), Stored)
        assert isinstance(add(spool, 1, 0.6, budget), Stored)  # the same bytes as the first, back
        assert isinstance(add(spool, 3, 0.7, budget), Stored)
        assert spool.evicted() == [first.sha256, hashlib.sha256(blob(2)).hexdigest(), first.sha256]  # type: ignore[union-attr]
        assert spool.counters() == {"evicted": 3, "kept": 4}


def test_not_a_spool_database(tmp_path: Path) -> None:
    (tmp_path / "spool.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(SpoolError, match="cannot open the spool database"):
        Spool(tmp_path)
    (tmp_path / "spool.db").unlink()
    Spool(tmp_path).close()  # the lock was released


def test_verify_finds_damaged_files(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        good, bad = add(spool, 1, 0.5), add(spool, 2, 0.5)
        assert spool.verify() == []
        spool.path(bad.sha256).write_bytes(b"bit rot")  # type: ignore[union-attr]
        assert spool.verify() == [bad.sha256]  # type: ignore[union-attr]
        assert good.sha256 not in spool.verify()  # type: ignore[union-attr]
