"""The on-device spool: SQLite (WAL, ``synchronous=FULL``) rows, each with a JPEG file.

Guarantees (LOOP.md, invariants 1 and 2):
- a row exists only once its image file is wholly on disk: the file is written
  atomically (temp, fsync, rename, fsync of the folder) before the row commits;
- opening the spool reconciles: temp files and files without a row are removed,
  rows whose file is missing are removed and counted (``rows_without_file``);
- samples are deduplicated by the sha256 of the stored JPEG;
- the budget (count and bytes) evicts the lowest score, then the oldest, in the
  same transaction that inserts the newcomer; evicted files are unlinked after
  the commit (a crash in between leaves orphans, removed on the next open);
- ``kept``, ``evicted``, ``acked`` and reconciliation counters commit with the
  rows they describe; drop counters are batched (``flush_counters``) and commit
  with the next insert or flush.

States: ``captured`` -> ``queued`` (handed to sync) -> ``acked`` (the hub holds
it; the file is deleted and the row stays as a tombstone for deduplication).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from edgeloop.errors import EdgeloopError
from edgeloop.improve.diskguard import failure_reason
from edgeloop.improve.faults import crash_point
from edgeloop.improve.files import fsync_dir, write_atomic
from edgeloop.improve.policy import Budget
from edgeloop.improve.records import (
    COLUMNS,
    Sample,
    SampleRecord,
    Stored,
    record_row,
    sample_from_row,
    write_transaction,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('captured', 'queued', 'acked')),
    device_id TEXT NOT NULL, model_name TEXT NOT NULL, model_version TEXT NOT NULL,
    predictions TEXT NOT NULL, sampler TEXT NOT NULL, score REAL NOT NULL, reason TEXT NOT NULL,
    tags TEXT NOT NULL, wall_time REAL NOT NULL, bytes INTEGER NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_value ON samples (score, seq) WHERE state != 'acked';
CREATE TABLE IF NOT EXISTS evictions (seq INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, score REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SpoolError(EdgeloopError):
    """The spool folder cannot be opened (in use by another process, unreadable, not a spool)."""


class SpoolUnavailable(SpoolError):
    """The spool's disk refused to open it (full, read-only, an I/O error): a fault of the
    storage, not of the settings, so callers that capture beside inference carry on without it."""


class Spool:
    """A spool folder: ``spool.db``, ``images/<sha256>.jpg`` and ``tmp/``. One writer at a time."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.images = self.root / "images"
        self.temp = self.root / "tmp"
        try:
            for folder in (self.root, self.images, self.temp):
                folder.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.root / "lock", "a+")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise SpoolUnavailable(f"{self.root}: cannot open the spool: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SpoolError(f"{self.root}: the spool is in use by another process; stop it first") from None
        self._pending: Counter[str] = Counter()
        self.last_error = ""  # what the last failed write raised
        try:
            self._db = sqlite3.connect(self.root / "spool.db", isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            self.reconciled = self._reconcile()
            self._data_version = -1
            self._refresh()
        except (OSError, sqlite3.Error) as exc:
            self._lock.close()
            raise SpoolUnavailable(f"{self.root}: cannot open the spool database: {exc}") from None

    def path(self, sha256: str) -> Path:
        """Where a sample's image lives."""
        return self.images / f"{sha256}.jpg"

    def _refresh(self) -> None:
        """Re-read the held count and bytes when another connection committed since the last look.

        Sync acks rows through its own connection (``improve.acker``), maybe from another
        process; ``PRAGMA data_version`` changes only then, so this is one cheap query per call.
        """
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._count, self._bytes = self._db.execute(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM samples WHERE state != 'acked'"
            ).fetchone()
            self._data_version = version

    def _reconcile(self) -> dict[str, int]:
        found = Counter[str]()
        for temp in self.temp.iterdir():
            temp.unlink()
            found["temp_files_removed"] += 1
        live = {sha for (sha,) in self._db.execute("SELECT sha256 FROM samples WHERE state != 'acked'")}
        on_disk = {p.stem: p for p in self.images.iterdir()}
        for name, path in on_disk.items():
            if name not in live:
                path.unlink()
                found["orphan_files_removed"] += 1
        missing = sorted(live - set(on_disk))
        with self._transaction():
            self._db.executemany("DELETE FROM samples WHERE sha256 = ?", [(s,) for s in missing])
            found["rows_without_file"] = len(missing)
            self._add_counters(found)
        if found["temp_files_removed"] or found["orphan_files_removed"]:
            fsync_dir(self.images)
            fsync_dir(self.temp)
        return dict(found)

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return write_transaction(self._db)

    def _add_counters(self, counts: Counter[str]) -> None:
        self._db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(name, n) for name, n in counts.items() if n],
        )

    def count_drop(self, reason: str) -> None:
        """Count a frame that was not kept; committed with the next insert or ``flush_counters``."""
        self._pending[f"dropped:{reason}"] += 1

    def count(self, name: str) -> None:
        """Count an event (e.g. ``offered``); committed like drops."""
        self._pending[name] += 1

    def flush_counters(self) -> None:
        """Commit the batched counters."""
        if self._pending:
            with self._transaction():
                self._add_counters(self._pending)
            self._pending.clear()

    def counters(self) -> dict[str, int]:
        """Every counter, committed and batched."""
        rows = Counter(dict(self._db.execute("SELECT name, value FROM counters").fetchall()))
        return dict(sorted((rows + self._pending).items()))

    @property
    def size(self) -> tuple[int, int]:
        """(count, bytes) of the samples held (not acked)."""
        self._refresh()
        return self._count, self._bytes

    def would_fit(self, score: float, budget: Budget) -> bool:
        """Whether a sample of ``score`` could enter when only the count limit is considered."""
        self._refresh()
        if budget.max_count is None or self._count < budget.max_count:
            return True
        lowest = self._db.execute(
            "SELECT score FROM samples WHERE state != 'acked' ORDER BY score, seq LIMIT 1"
        ).fetchone()
        return lowest is None or lowest[0] <= score

    def _victims(self, score: float, size: int, budget: Budget) -> list[tuple[int, str, int]] | None:
        """Samples to evict so that one more of ``score`` and ``size`` fits; None when it cannot."""
        over_count = 0 if budget.max_count is None else self._count + 1 - budget.max_count
        over_bytes = 0 if budget.max_bytes is None else self._bytes + size - budget.max_bytes
        if budget.max_bytes is not None and size > budget.max_bytes:
            return None
        victims: list[tuple[int, str, int]] = []
        cursor = self._db.execute(
            "SELECT seq, sha256, score, bytes FROM samples WHERE state != 'acked' ORDER BY score, seq"
        )
        while over_count > 0 or over_bytes > 0:
            row = cursor.fetchone()
            if row is None or row[2] > score:  # lowest-valued first; on a tie the older goes
                return None
            victims.append((row[0], row[1], row[3]))
            over_count, over_bytes = over_count - 1, over_bytes - row[3]
        return victims

    def add(self, image: bytes, record: SampleRecord, budget: Budget) -> Stored | str:
        """Store a sample, or say why not: ``duplicate``, ``budget``, ``disk_full`` or ``io_error``.

        The drop is counted here too (``last_error`` says what failed). The file
        is durable before the row commits; after a failed write neither a temp
        file nor a row without its file remains.
        """
        sha = hashlib.sha256(image).hexdigest()
        reason = self._admit(sha, record.score, len(image), budget)
        if isinstance(reason, str):
            self.count_drop(reason)
            return reason
        path = self.path(sha)
        try:
            write_atomic(path, image, self.temp)
            crash_point("file_renamed")
            seq, reason = self._commit(sha, len(image), record, reason, budget)
        except (OSError, sqlite3.Error) as exc:
            outcome = self._failed_write(sha, exc, len(image), reason)
            if isinstance(outcome, str):
                return outcome
            seq = outcome
        if reason:
            crash_point("evicted")
        for _, victim, _ in reason:
            with contextlib.suppress(OSError):
                self.path(victim).unlink()
        return Stored(seq, sha, tuple(v for _, v, _ in reason))

    def _failed_write(
        self, sha: str, exc: BaseException, size: int, victims: list[tuple[int, str, int]]
    ) -> int | str:
        """After a failed write: the drop reason (counted), or the row's seq if it committed anyway.

        The file is removed only when the database says that no row holds it; when
        it cannot say, the file stays (the next open removes it if it is an orphan).
        """
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._data_version = -1  # count again on the next look: the victims may have been chosen anew
        try:
            row = self._db.execute("SELECT seq FROM samples WHERE sha256 = ?", (sha,)).fetchone()
        except sqlite3.Error:
            row = ()
        if row:  # COMMIT reported an error after the transaction became durable
            self._committed(size, victims)
            return int(row[0])
        if row is None:
            with contextlib.suppress(OSError):
                self.path(sha).unlink()
        failure = failure_reason(exc)
        self.count_drop(failure)
        return failure

    def _admit(self, sha: str, score: float, size: int, budget: Budget) -> list[tuple[int, str, int]] | str:
        self._refresh()
        if self._db.execute("SELECT 1 FROM samples WHERE sha256 = ?", (sha,)).fetchone():
            return "duplicate"
        victims = self._victims(score, size, budget)
        return "budget" if victims is None else victims

    def _commit(
        self, sha: str, size: int, record: SampleRecord, victims: list[tuple[int, str, int]], budget: Budget
    ) -> tuple[int, list[tuple[int, str, int]]]:
        """Insert the row and evict ``victims`` in one transaction; the seq and the victims evicted.

        Inside the transaction nothing else can commit; if sync acked rows since the
        victims were chosen, they are chosen again (acks only free room, so never more).
        """
        counts = Counter(self._pending)
        counts["kept"] += 1
        with self._transaction():
            before = self._data_version
            self._refresh()
            if self._data_version != before:
                victims = self._victims(record.score, size, budget) or []
            counts["evicted"] += len(victims)
            for seq, _, _ in victims:
                self._db.execute(
                    "INSERT INTO evictions (seq, sha256, score) "
                    "SELECT seq, sha256, score FROM samples WHERE seq = ?",
                    (seq,),
                )
                self._db.execute("DELETE FROM samples WHERE seq = ?", (seq,))
            cursor = self._db.execute(
                f"INSERT INTO samples ({COLUMNS.removeprefix('seq, ')}) VALUES ({', '.join('?' * 14)})",
                (sha, "captured", *record_row(record), size, record.width, record.height),
            )
            self._add_counters(counts)
        self._committed(size, victims)
        assert cursor.lastrowid is not None
        return cursor.lastrowid, victims

    def _committed(self, size: int, victims: list[tuple[int, str, int]]) -> None:
        self._pending.clear()
        self._count += 1 - len(victims)
        self._bytes += size - sum(v[2] for v in victims)

    def samples(self, state: str | None = None) -> list[Sample]:
        """Held samples (and acked tombstones when ``state='acked'``), oldest first."""
        where, args = ("WHERE state = ?", (state,)) if state else ("WHERE state != 'acked'", ())
        rows = self._db.execute(f"SELECT {COLUMNS} FROM samples {where} ORDER BY seq", args)
        return [sample_from_row(row) for row in rows]

    def evicted(self) -> list[str]:
        """Hashes of every evicted sample, in eviction order."""
        return [sha for (sha,) in self._db.execute("SELECT sha256 FROM evictions ORDER BY rowid")]

    def mark_queued(self, hashes: Iterable[str]) -> None:
        """Captured samples handed to sync."""
        with self._transaction():
            self._db.executemany(
                "UPDATE samples SET state = 'queued' WHERE sha256 = ? AND state = 'captured'",
                [(h,) for h in hashes],
            )

    def ack(self, sha256: str) -> None:
        """The hub holds this sample durably: keep a tombstone row, delete the file."""
        with self._transaction():
            row = self._db.execute(
                "SELECT bytes FROM samples WHERE sha256 = ? AND state != 'acked'", (sha256,)
            ).fetchone()
            if row is None:
                return
            self._db.execute("UPDATE samples SET state = 'acked' WHERE sha256 = ?", (sha256,))
            self._add_counters(Counter(acked=1))
        self._count, self._bytes = self._count - 1, self._bytes - row[0]
        crash_point("acked")
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def remove(self, hashes: Iterable[str]) -> tuple[int, int, int]:
        """Delete samples for good (``edgeloop spool prune``): rows first, then the held files.

        Returns (held samples removed, acked tombstones removed, bytes freed), counted as
        ``pruned`` and ``tombstones_pruned``. A removed image may be captured again. A crash
        between the commit and the unlinks leaves orphans, which the next open removes.
        """
        wanted = list(dict.fromkeys(hashes))
        with self._transaction():
            found = [
                (sha, row)
                for sha in wanted
                if (
                    row := self._db.execute(
                        "SELECT state, bytes FROM samples WHERE sha256 = ?", (sha,)
                    ).fetchone()
                )
            ]
            self._db.executemany("DELETE FROM samples WHERE sha256 = ?", [(sha,) for sha, _ in found])
            held = [(sha, size) for sha, (state, size) in found if state != "acked"]
            counts = Counter(pruned=len(held), tombstones_pruned=len(found) - len(held))
            self._add_counters(counts)
        freed = sum(size for _, size in held)
        self._count, self._bytes = self._count - len(held), self._bytes - freed
        for sha, _ in held:
            with contextlib.suppress(FileNotFoundError):
                self.path(sha).unlink()
        if held:
            fsync_dir(self.images)
        return len(held), len(found) - len(held), freed

    def verify(self) -> list[str]:
        """Hashes of held samples whose file is missing or does not match its sha256 (reads every file)."""
        bad = []
        for (sha,) in self._db.execute("SELECT sha256 FROM samples WHERE state != 'acked' ORDER BY seq"):
            digest = hashlib.sha256()
            try:
                with open(self.path(sha), "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
            except OSError:
                bad.append(sha)
                continue
            if digest.hexdigest() != sha:
                bad.append(sha)
        return bad

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``ok`` when sound)."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Commit batched counters and release the folder. Safe to call twice."""
        if self._lock.closed:
            return
        with contextlib.suppress(sqlite3.Error):
            self.flush_counters()
        self._db.close()
        self._lock.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
