"""What the spool stores per sample, and its row layout."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

COLUMNS = (
    "seq, sha256, state, device_id, model_name, model_version, predictions, sampler, score, reason, "
    "tags, wall_time, bytes, width, height"
)


@dataclass(frozen=True)
class SampleRecord:
    """What is stored with a sample's image (``predictions``: the detection wire format)."""

    device_id: str
    model_name: str
    model_version: str
    predictions: dict[str, Any]
    sampler: str
    score: float
    reason: str
    tags: tuple[str, ...]
    wall_time: float
    width: int
    height: int


@dataclass(frozen=True)
class Sample:
    """A row of the spool: its sequence number, content hash, state, size and record."""

    seq: int
    sha256: str
    state: str
    bytes: int
    record: SampleRecord


@dataclass(frozen=True)
class Stored:
    """An insert that committed: the sample's sequence, hash, and the hashes it evicted."""

    seq: int
    sha256: str
    evicted: tuple[str, ...]


def record_row(record: SampleRecord) -> tuple[Any, ...]:
    """The row values of ``record``, in ``COLUMNS`` order after ``sha256, state``."""
    return (
        record.device_id,
        record.model_name,
        record.model_version,
        json.dumps(record.predictions, separators=(",", ":")),
        record.sampler,
        record.score,
        record.reason,
        json.dumps(list(record.tags)),
        record.wall_time,
    )


def sample_from_row(row: tuple[Any, ...]) -> Sample:
    """A ``Sample`` from a row selected with ``COLUMNS``."""
    seq, sha, state, device, name, version, predictions, sampler, score, reason, tags, wall, size, w, h = row
    tag_list = tuple(json.loads(tags))
    record = SampleRecord(
        device, name, version, json.loads(predictions), sampler, score, reason, tag_list, wall, w, h
    )
    return Sample(seq, sha, state, size, record)


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection, rolled back on any error.

    SQLite may already have rolled back (SQLITE_FULL, SQLITE_IOERR): a second ROLLBACK would raise
    and hide the error that says why, so it runs only while a transaction is still open.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
