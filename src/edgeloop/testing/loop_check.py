"""The end-of-run check of the capture -> sync -> hub fault harness: device spool against hub.

Captured = every sha256 in the kept log (inserts that returned) plus every row of the spool
(held, or acked tombstones: a kill between an insert's commit and its log line leaves only
the row). The hub holds a sample when its ``samples`` row exists; its image is the blob
``samples/<sha256>``. ``LoopCheck.bad()`` lists the counts that must all be 0.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.errors import ImageError
from edgeloop.hub.db import create_engine
from edgeloop.imaging import decode_image
from edgeloop.improve.spool import Spool
from edgeloop.testing.capture_faults import acknowledged
from edgeloop.testing.loop_device import frame_sha256


@dataclass
class LoopCheck:
    """What the spool and the hub hold after the last drain. Every field in ``bad()`` must be 0.

    Attributes:
        frames: frames offered (0..N-1).
        captured: distinct samples the device captured (kept log + spool rows).
        not_captured: frames whose JPEG never entered the spool (a frame lost before sync).
        at_hub: sample rows at the hub.
        lost: captured, not at the hub.
        duplicated: rows beyond distinct hashes, plus sample blobs without a row.
        unexpected: hub rows the device never captured.
        corrupt: blobs whose sha256 is not their key, or whose image does not decode.
        rows_without_blob: hub rows whose blob is missing.
        leftovers: blob-store temp files, upload rows and upload chunks still there.
        spool_live: samples still held by the spool after the drain.
        spool_bad_files: held samples whose file is missing or wrong (``Spool.verify``).
        spool_integrity / hub_integrity: ``ok`` when sound.
        spool_counters: the spool's counters (drops by reason, reconciliations).
    """

    frames: int = 0
    captured: int = 0
    not_captured: int = 0
    at_hub: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    corrupt: int = 0
    rows_without_blob: int = 0
    leftovers: int = 0
    spool_live: int = 0
    spool_bad_files: int = 0
    spool_orphans: int = 0
    spool_integrity: str = ""
    hub_integrity: str = ""
    spool_counters: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def bad(self) -> dict[str, int]:
        """The counts that must be 0 (integrity answers other than ``ok`` count as 1)."""
        counts = {
            "not_captured": self.not_captured,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "corrupt": self.corrupt,
            "rows_without_blob": self.rows_without_blob,
            "leftovers": self.leftovers,
            "spool_live": self.spool_live,
            "spool_bad_files": self.spool_bad_files,
            "spool_orphans": self.spool_orphans,
            "spool_integrity": int(self.spool_integrity != "ok"),
            "hub_integrity": int(self.hub_integrity != "ok"),
        }
        return {k: v for k, v in counts.items() if v}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class HubStore:
    """Where the hub keeps its data: the database URL and the blob store (folder path or s3 URL)."""

    db_url: str
    blobs: str
    s3_endpoint: str | None = None


def check_loop(spool_dir: Path, kept_log: Path, hub: HubStore, frames: int, seed: int) -> LoopCheck:
    """Compare what the device captured with what the hub holds; check both databases."""
    check = LoopCheck(frames=frames)
    with Spool(spool_dir) as spool:
        check.spool_integrity = spool.integrity()
        check.spool_bad_files = len(spool.verify())
        check.spool_live = spool.size[0]
        rows = {sha for (sha,) in spool._db.execute("SELECT sha256 FROM samples")}
        live = {s.sha256 for s in spool.samples()}
        check.spool_orphans = sum(1 for p in spool.images.iterdir() if p.stem not in live)
        check.spool_counters = spool.counters()
    captured = acknowledged(kept_log) | rows
    expected = {frame_sha256(seed, i) for i in range(frames)}
    check.captured = len(captured)
    not_captured = expected - captured
    check.not_captured = len(not_captured)
    at_hub, count, integrity = _hub_rows(hub.db_url)
    check.at_hub, check.hub_integrity = count, integrity
    blobs, leftovers = _blob_objects(hub)
    check.lost = len(captured - at_hub)
    check.unexpected = len(at_hub - captured)
    orphan_blobs = set(blobs) - at_hub
    check.duplicated = (count - len(at_hub)) + len(orphan_blobs)
    missing = at_hub - set(blobs)
    check.rows_without_blob = len(missing)
    check.leftovers = len(leftovers) + _upload_rows(hub.db_url)
    corrupt = [sha for sha in sorted(at_hub & set(blobs)) if not _whole(blobs[sha]())]
    check.corrupt = len(corrupt)
    check.examples = {
        name: sorted(values)[:5]
        for name, values in (
            ("not_captured", not_captured),
            ("lost", captured - at_hub),
            ("orphan_blobs", orphan_blobs),
            ("rows_without_blob", missing),
            ("corrupt", set(corrupt)),
            ("leftovers", set(leftovers)),
        )
        if values
    }
    return check


def _whole(item: tuple[str, bytes]) -> bool:
    sha, data = item
    if hashlib.sha256(data).hexdigest() != sha:
        return False
    try:
        decode_image(data)
    except ImageError:
        return False
    return True


def _hub_rows(db_url: str) -> tuple[set[str], int, str]:
    """(distinct sample hashes, row count, integrity answer) of the hub database."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            hashes = [sha for (sha,) in conn.execute(sa.text("SELECT sha256 FROM samples"))]
            if engine.dialect.name == "sqlite":
                answer = str(conn.execute(sa.text("PRAGMA integrity_check")).scalar())
            else:
                answer = _postgres_consistency(conn)
    finally:
        engine.dispose()
    return set(hashes), len(hashes), answer


def _postgres_consistency(conn: sa.Connection) -> str:
    """``ok`` when every sample row is well-formed and points at a known device (PostgreSQL has no
    ``integrity_check``: its own checksums guard pages; this checks what the hub relies on)."""
    problems = conn.execute(
        sa.text(
            "SELECT count(*) FROM samples s LEFT JOIN devices d ON d.name = s.device "
            "WHERE d.name IS NULL OR length(s.sha256) != 64 OR s.bytes <= 0"
        )
    ).scalar()
    dupes = conn.execute(
        sa.text("SELECT count(*) FROM (SELECT sha256 FROM samples GROUP BY sha256 HAVING count(*) > 1) d")
    ).scalar()
    return "ok" if not problems and not dupes else f"{problems} bad rows, {dupes} duplicated keys"


def _upload_rows(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM uploads")).scalar() or 0)
    finally:
        engine.dispose()


Reader = Any  # a zero-argument callable returning (sha256, bytes)


def _blob_objects(hub: HubStore) -> tuple[dict[str, Reader], list[str]]:
    """({sha256: reader of samples/<sha256>}, [other keys: temp files, upload chunks])."""
    if hub.blobs.startswith("s3://"):
        assert hub.s3_endpoint is not None, "an s3:// blob store needs its endpoint"
        return _s3_objects(hub.blobs, hub.s3_endpoint)
    root = Path(hub.blobs.removeprefix("file://"))
    samples: dict[str, Reader] = {}
    others: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []:
        rel = path.relative_to(root).as_posix()
        if rel.startswith("samples/") and len(path.name) == 64 and "/" not in rel[8:]:
            samples[path.name] = lambda p=path: (p.name, p.read_bytes())
        else:
            others.append(rel)
    return samples, others


def _s3_objects(url: str, endpoint: str) -> tuple[dict[str, Reader], list[str]]:
    from edgeloop.testing.servers import s3_client

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    client = s3_client(endpoint)
    samples: dict[str, Reader] = {}
    others: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = str(obj["Key"])[len(prefix) :]
            name = rel.removeprefix("samples/")
            if rel.startswith("samples/") and len(name) == 64 and "/" not in name:
                key = str(obj["Key"])
                samples[name] = lambda k=key, n=name: (
                    n,
                    client.get_object(Bucket=bucket, Key=k)["Body"].read(),
                )
            else:
                others.append(rel)
    return samples, others


def spool_states(spool_dir: Path) -> dict[str, int]:
    """Spool rows per state (captured, queued, acked), read beside a running device."""
    db = sqlite3.connect(f"file:{spool_dir / 'spool.db'}?mode=ro", uri=True, timeout=30)
    try:
        return dict(db.execute("SELECT state, count(*) FROM samples GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # the device is creating the spool: no table yet
        return {}
    finally:
        db.close()
