"""A read-only view of a spool, safe beside the process that captures into it.

``Spool`` takes the folder's lock (one writer); ``SpoolView`` opens ``spool.db``
read-only instead, so ``edgeloop spool status`` and ``ls`` work while ``edgeloop
run --capture`` is writing (SQLite WAL readers see the last committed state).
Drop counters are batched by the writer and committed at least every
``counters_flush_s``, so a view may lag that much behind on drops, never on kept
samples.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgeloop.errors import ConfigError
from edgeloop.improve.records import COLUMNS, Sample, sample_from_row
from edgeloop.improve.spool import SpoolError

STATES = ("held", "captured", "queued", "acked", "all")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration_s(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"'{text}' is not a duration: use a number and s, m, h, d or w (e.g. 12h, 7d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_time(text: str, now: float | None = None) -> float:
    """A point in time: a duration ago (``2h``, ``7d``) or an ISO date/time (UTC when no zone is given)."""
    now = time.time() if now is None else now
    if _DURATION.match(text):
        return now - parse_duration_s(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"'{text}' is not a time: use a duration ago (12h, 7d) or a date (2026-05-01 or 2026-05-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso_utc(wall_time_s: float) -> str:
    """Seconds since the epoch as ``2026-05-01T08:00:00Z``."""
    return datetime.fromtimestamp(wall_time_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SampleFilter:
    """Which samples to list, export or prune.

    Attributes:
        state: ``held`` (captured or queued: the default), ``captured``, ``queued``, ``acked`` or ``all``.
        sampler: only samples kept by this sampler.
        class_name: only samples whose predictions include this class.
        since: only samples captured at or after this wall time (seconds since the epoch).
        before: only samples captured before this wall time.
        limit: at most this many (the oldest first).
    """

    state: str = "held"
    sampler: str | None = None
    class_name: str | None = None
    since: float | None = None
    before: float | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ConfigError(f"--state {self.state}: choose one of {', '.join(STATES)}")


def classes_of(sample: Sample) -> list[str]:
    """Class names of a sample's stored predictions."""
    predictions = sample.record.predictions.get("predictions") or []
    return [str(p.get("class", p.get("class_id", ""))) for p in predictions if isinstance(p, dict)]


@dataclass(frozen=True)
class SpoolStatus:
    """Counts of a spool: samples by state, bytes held, and every counter."""

    root: str
    by_state: dict[str, int]
    held_bytes: int
    by_sampler: dict[str, int]
    oldest: float | None
    newest: float | None
    counters: dict[str, int]

    @property
    def held(self) -> int:
        """Samples on disk (captured or queued)."""
        return self.by_state.get("captured", 0) + self.by_state.get("queued", 0)

    @property
    def dropped(self) -> dict[str, int]:
        """Frames not kept, by reason."""
        return {k.removeprefix("dropped:"): v for k, v in self.counters.items() if k.startswith("dropped:")}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "spool": self.root,
            "held": self.held,
            "held_bytes": self.held_bytes,
            "by_state": self.by_state,
            "by_sampler": self.by_sampler,
            "oldest": None if self.oldest is None else iso_utc(self.oldest),
            "newest": None if self.newest is None else iso_utc(self.newest),
            "dropped": self.dropped,
            "counters": self.counters,
        }


class SpoolView:
    """Read-only access to a spool folder (no lock taken; the writer may be running)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        db = self.root / "spool.db"
        if not db.is_file():
            raise SpoolError(f"{self.root}: not a spool (no spool.db); pass the folder given to --spool")
        try:
            self._db = sqlite3.connect(f"file:{quote(str(db.resolve()))}?mode=ro", uri=True)
            self._db.execute("SELECT 1 FROM samples LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(f"{self.root}: cannot read spool.db: {exc}") from None

    def path(self, sha256: str) -> Path:
        """Where a sample's image lives."""
        return self.root / "images" / f"{sha256}.jpg"

    def counters(self) -> dict[str, int]:
        """Every committed counter."""
        return dict(sorted(self._db.execute("SELECT name, value FROM counters").fetchall()))

    def samples(self, where: SampleFilter | None = None) -> list[Sample]:
        """Samples matching ``where``, oldest first."""
        where = where or SampleFilter()
        clauses: list[str] = []
        args: list[str | float] = []
        if where.state == "held":
            clauses.append("state != 'acked'")
        elif where.state != "all":
            clauses.append("state = ?")
            args.append(where.state)
        for clause, value in (
            ("sampler = ?", where.sampler),
            ("wall_time >= ?", where.since),
            ("wall_time < ?", where.before),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        sql = f"SELECT {COLUMNS} FROM samples"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self._db.execute(sql + " ORDER BY seq", args)
        found = []
        for row in rows:
            sample = sample_from_row(row)
            if where.class_name is not None and where.class_name not in classes_of(sample):
                continue
            found.append(sample)
            if where.limit is not None and len(found) >= where.limit:
                break
        return found

    def status(self) -> SpoolStatus:
        """Samples by state and sampler, bytes held, time range and counters."""
        by_state = dict(self._db.execute("SELECT state, count(*) FROM samples GROUP BY state").fetchall())
        held_bytes, oldest, newest = self._db.execute(
            "SELECT coalesce(sum(bytes), 0), min(wall_time), max(wall_time) FROM samples "
            "WHERE state != 'acked'"
        ).fetchone()
        samplers = Counter(
            dict(
                self._db.execute(
                    "SELECT sampler, count(*) FROM samples WHERE state != 'acked' GROUP BY sampler"
                ).fetchall()
            )
        )
        return SpoolStatus(
            str(self.root),
            by_state,
            held_bytes,
            dict(samplers.most_common()),
            oldest,
            newest,
            self.counters(),
        )

    def close(self) -> None:
        """Close the database connection. Safe to call twice."""
        self._db.close()

    def __enter__(self) -> SpoolView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
