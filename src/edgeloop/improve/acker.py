"""``SpoolAcker``: what sync uses of a spool, safe beside the process that captures into it.

``Spool`` holds the folder's lock (one writer: capture). Sync never takes that
lock; it opens its own SQLite connection to ``spool.db`` and only ever

- reads held rows (highest score first, then oldest),
- marks rows ``queued``, and
- acks a row: one short transaction sets ``state = 'acked'`` and counts it
  (``acked``, or ``sync_rejected:<code>`` too), then the file is unlinked.

Each is a single SQLite write transaction, serialised with the writer's by SQLite
(WAL, ``busy_timeout``), and none of them changes what the writer's protocol
relies on: a row never loses its file before it is acked, and an acked row whose
file a crash left behind is an orphan that either side removes (``Spool`` when it
opens, ``SpoolAcker`` when it opens). The writer re-reads its held count and bytes
whenever another connection committed (``PRAGMA data_version``), so acked rows
leave its budget at once. The same class serves ``edgeloop sync`` in its own
process and the sync thread of ``run``/``serve --hub`` (a second connection in
the same process). ``sync.lock`` (flock) keeps a second syncer off the spool.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from edgeloop.improve.faults import crash_point
from edgeloop.improve.files import fsync_dir
from edgeloop.improve.records import COLUMNS, Sample, sample_from_row, write_transaction
from edgeloop.improve.spool import SpoolError

BUSY_TIMEOUT_S = 30.0


class SpoolAcker:
    """Reads held samples and acks them, without the spool's writer lock.

    Raises:
        SpoolError: not a spool, unreadable, or another syncer holds ``sync.lock``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.images = self.root / "images"
        db = self.root / "spool.db"
        if not db.is_file():
            raise SpoolError(
                f"{self.root}: not a spool (no spool.db); pass the folder given to --spool "
                "(it appears once capture has started)"
            )
        try:
            self._lock = open(self.root / "sync.lock", "a+")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise SpoolError(f"{self.root}: cannot open sync.lock: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SpoolError(
                f"{self.root}: another sync is already sending this spool (edgeloop sync, or run/serve "
                "with --hub); stop it first"
            ) from None
        try:
            uri = f"file:{quote(str(db.resolve()))}?mode=rw"
            self._db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
            )
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("SELECT 1 FROM samples LIMIT 1").fetchall()
            self.cleaned = self._remove_acked_files()
        except (OSError, sqlite3.Error) as exc:
            self._lock.close()
            raise SpoolError(f"{self.root}: cannot open spool.db for sync: {exc}") from None

    def path(self, sha256: str) -> Path:
        """Where a sample's image lives."""
        return self.images / f"{sha256}.jpg"

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return write_transaction(self._db)

    def _remove_acked_files(self) -> int:
        """Unlink files of acked rows (a crash between an ack's commit and its unlink leaves one).

        Done while holding SQLite's write lock, so no other process can drop the
        tombstone and capture the same image again between the check and the unlink.
        """
        removed = 0
        with self._transaction():
            for path in self.images.iterdir():
                row = self._db.execute("SELECT state FROM samples WHERE sha256 = ?", (path.stem,)).fetchone()
                if row is not None and row[0] == "acked":  # no row: maybe a writer's file, not yet committed
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    removed += 1
        if removed:
            fsync_dir(self.images)
        return removed

    def pending(self, limit: int, skip: Iterable[str] = ()) -> list[Sample]:
        """Up to ``limit`` held samples, highest score first, then oldest; ``skip``: hashes left out."""
        skipped = set(skip)
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM samples WHERE state != 'acked' ORDER BY score DESC, seq",
        )
        found: list[Sample] = []
        for row in rows:
            if row[1] in skipped:
                continue
            found.append(sample_from_row(row))
            if len(found) >= limit:
                break
        return found

    def backlog(self) -> tuple[int, int]:
        """(count, bytes) of the samples held (not acked)."""
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM samples WHERE state != 'acked'"
        ).fetchone()
        return int(count), int(size)

    def mark_queued(self, hashes: Iterable[str]) -> None:
        """Captured samples handed to a target (no transaction when there are none)."""
        rows = [(h,) for h in hashes]
        if not rows:
            return
        with self._transaction():
            self._db.executemany(
                "UPDATE samples SET state = 'queued' WHERE sha256 = ? AND state = 'captured'", rows
            )

    def ack(self, sha256: str, rejected_code: int | None = None) -> bool:
        """The target holds this sample (or refused it for good, with ``rejected_code``): commit the
        ack, then delete the file. False when the row was no longer held (evicted or acked)."""
        counts = Counter(acked=1)
        if rejected_code is not None:
            counts[f"sync_rejected:{rejected_code}"] += 1
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE samples SET state = 'acked' WHERE sha256 = ? AND state != 'acked'", (sha256,)
            )
            if cursor.rowcount == 0:
                return False
            self._db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                list(counts.items()),
            )
        crash_point("acked")
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()
        return True

    def held(self, sha256: str) -> bool:
        """Whether the spool still holds this sample (captured or queued)."""
        row = self._db.execute(
            "SELECT 1 FROM samples WHERE sha256 = ? AND state != 'acked'", (sha256,)
        ).fetchone()
        return row is not None

    def counters(self) -> dict[str, int]:
        """Every committed counter."""
        return dict(sorted(self._db.execute("SELECT name, value FROM counters").fetchall()))

    def close(self) -> None:
        """Close the connection and release ``sync.lock``. Safe to call twice."""
        if self._lock.closed:
            return
        self._db.close()
        self._lock.close()

    def __enter__(self) -> SpoolAcker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
