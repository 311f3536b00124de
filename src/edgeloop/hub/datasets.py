"""Immutable dataset versions over the hub's samples, with a fixed test split (LOOP.md invariant 6).

``create_version`` selects samples (filters, labelled only unless predictions are
explicitly allowed as labels), gives every sample it takes for the first time a split
(``manifest.assign_split``, stored in ``samples.split`` with a compare-and-set, never
changed afterwards), builds the manifest and stores it as ``previous + 1`` unless it is
identical to the latest version, which is then returned with ``created=False``.
Every function takes an ``Engine`` or a ``Connection``; none needs the web app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from edgeloop.errors import ConfigError, Conflict, DatasetError, NotFound
from edgeloop.hub import schema
from edgeloop.hub.db import writing
from edgeloop.hub.manifest import (
    SPLITS,
    DatasetVersion,
    Fractions,
    SampleRow,
    assign_split,
    build_manifest,
    fingerprint,
    split_counts,
)

if TYPE_CHECKING:
    from edgeloop.hub.dataset_export import BlobReader, ExportResult

Include = Literal["labelled", "pending", "all"]
INCLUDE_STATUSES: dict[str, tuple[str, ...]] = {
    "labelled": ("labelled",),
    "pending": ("pending",),
    "all": ("labelled", "pending"),
}
STATUSES = ("pending", "labelled", "rejected")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 500  # bound parameters per IN (...) list, well under every engine's limit
_RETRIES = 5  # a concurrent create took the same version number: read again and retry


class DatasetNotFound(DatasetError, NotFound):
    """No dataset (or no such version of it) in the hub."""


class DatasetConflict(DatasetError, Conflict):
    """Another writer created the same version number at the same moment."""


@dataclass(frozen=True)
class SampleFilter:
    """Which samples: every field that is set must match.

    ``since``/``until`` are UNIX seconds on the time the hub received the sample (as in
    ``GET /api/v1/samples``); ``class_name`` is a class the device predicted in the image.
    """

    device: str | None = None
    sampler: str | None = None
    class_name: str | None = None
    since: float | None = None
    until: float | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ConfigError(f"status {self.status!r}: choose one of {', '.join(STATUSES)}")

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """SQL conditions on ``schema.samples`` for the fields that are set."""
        s = schema.samples.c
        found: list[sa.ColumnElement[bool]] = []
        if self.device is not None:
            found.append(s.device == self.device)
        if self.sampler is not None:
            found.append(s.sampler == self.sampler)
        if self.class_name is not None:
            found.append(s.classes.contains(f",{self.class_name},", autoescape=True))
        if self.since is not None:
            found.append(s.received_at >= self.since)
        if self.until is not None:
            found.append(s.received_at < self.until)
        if self.status is not None:
            found.append(s.status == self.status)
        return found


@contextmanager
def transaction(bind: sa.Engine | sa.Connection, write: bool = False) -> Iterator[sa.Connection]:
    """One transaction: a new one on an engine (``write``: a writer's, ``BEGIN IMMEDIATE`` on
    SQLite, so a read-then-write never fails on a lock upgrade), or the caller's on a connection."""
    if isinstance(bind, sa.Engine):
        with writing(bind) if write else bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        yield bind
    else:
        with bind.begin():
            yield bind


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else a ConfigError naming the rule."""
    if not NAME_RE.match(name):
        raise ConfigError(
            f"dataset name {name!r}: use letters, digits, '.', '_' or '-' (at most 128, not starting with "
            "'.', '_' or '-')"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@VERSION`` (``@latest`` = None) -> (name, version)."""
    name, _, version = ref.partition("@")
    check_name(name)
    if version in ("", "latest"):
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ConfigError(f"{ref}: the version after '@' is a number from 1 (or 'latest'), e.g. {name}@3")
    return name, int(version)


def create_version(
    bind: sa.Engine | sa.Connection,
    name: str,
    *,
    where: SampleFilter | None = None,
    include: Include = "labelled",
    allow_predictions: bool = False,
    fractions: Fractions | None = None,
    seed: int = 0,
    note: str = "",
) -> DatasetVersion:
    """Create the next version of ``name`` from the samples that match ``where``.

    ``include``: ``labelled`` (default) takes samples a person labelled; ``pending`` or
    ``all`` also take samples nobody reviewed yet, with the device's predictions as their
    labels, and only when ``allow_predictions`` says so explicitly. Rejected samples are
    never taken.

    Raises:
        ConfigError: bad name, fractions or include.
        DatasetError: no sample matches.
        DatasetConflict: concurrent creates kept taking the version number (on a connection,
            the first time, since its transaction cannot be retried here).
    """
    check_name(name)
    where = where or SampleFilter()
    fractions = fractions or Fractions()
    if include not in INCLUDE_STATUSES:
        raise ConfigError(f"include {include!r}: choose one of {', '.join(INCLUDE_STATUSES)}")
    if include != "labelled" and not allow_predictions:
        raise ConfigError(
            f"include {include!r} takes unreviewed samples with the device's predictions as labels; "
            "say so explicitly (--include-pending / allow_predictions), or label them first"
        )
    statuses = INCLUDE_STATUSES[include]
    if where.status is not None:
        if where.status not in statuses:
            raise ConfigError(
                f"status {where.status!r} is not taken with include {include!r}: rejected samples never "
                "enter a dataset, pending ones only with --include-pending"
            )
        statuses = (where.status,)
    attempts = _RETRIES if isinstance(bind, sa.Engine) else 1
    for _ in range(attempts):
        try:
            with transaction(bind, write=True) as conn:
                return _create(conn, name, where, statuses, fractions, seed, note)
        except sa.exc.IntegrityError:
            continue
    raise DatasetConflict(f"dataset {name}: another create took the next version number; run it again")


def _create(
    conn: sa.Connection,
    name: str,
    where: SampleFilter,
    statuses: tuple[str, ...],
    fractions: Fractions,
    seed: int,
    note: str,
) -> DatasetVersion:
    if conn.dialect.name == "postgresql":
        # Creates of one dataset take turns (SQLite's BEGIN IMMEDIATE already serializes writers):
        # under load, eight racing creates could each lose the version number more times than
        # the retries allow. The lock ends with the transaction.
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"edgeloop.dataset:{name}"}
        )
    s = schema.samples
    conditions = [*where.conditions(), s.c.status.in_(statuses)]
    unassigned = conn.execute(sa.select(s.c.sha256).where(*conditions, s.c.split.is_(None))).scalars().all()
    _assign_splits(conn, unassigned, fractions, seed)
    rows = _sample_rows(conn, conditions)
    if not rows:
        raise DatasetError(
            f"dataset {name}: no sample matches ({describe(where, statuses)}); label samples first "
            "(review queue or a labelling tool), widen the filters, or pass --include-pending"
        )
    latest = _latest(conn, name)
    manifest = build_manifest(rows, tuple(latest.names) if latest is not None else ())
    digest = fingerprint(manifest)
    if latest is not None and latest.fingerprint == digest:
        return _version(latest, manifest, created=False, name=name)
    version = DatasetVersion(
        name=name,
        version=1 if latest is None else latest.version + 1,
        fingerprint=digest,
        parent=None if latest is None else latest.version,
        created_at=time.time(),
        note=note,
        names=tuple(manifest["names"]),
        counts=split_counts(manifest),
        manifest=manifest,
    )
    row = {k: v for k, v in version.summary().items() if k in schema.datasets.c}
    conn.execute(sa.insert(schema.datasets).values(**row, manifest=manifest))
    return version


def _sample_rows(conn: sa.Connection, conditions: list[sa.ColumnElement[bool]]) -> list[SampleRow]:
    """The selected samples; a person's labels, or for pending samples the device's predictions."""
    s = schema.samples
    columns = (s.c.sha256, s.c.split, s.c.width, s.c.height, s.c.media_type, s.c.status)
    rows = conn.execute(sa.select(*columns, s.c.labels, s.c.predictions).where(*conditions))
    return [
        SampleRow(
            r.sha256,
            r.split,
            r.width,
            r.height,
            r.media_type,
            "labelled" if r.status == "labelled" else "predictions",
            r.labels if r.status == "labelled" else r.predictions,
        )
        for r in rows
    ]


def _assign_splits(conn: sa.Connection, shas: Sequence[str], fractions: Fractions, seed: int) -> None:
    """Give each sample its split once: a compare-and-set, so a concurrent assignment wins intact."""
    by_split: dict[str, list[str]] = {name: [] for name in SPLITS}
    for sha in shas:
        by_split[assign_split(sha, fractions, seed)].append(sha)
    s = schema.samples
    for split, members in by_split.items():
        for start in range(0, len(members), _CHUNK):
            chunk = members[start : start + _CHUNK]
            conn.execute(sa.update(s).where(s.c.sha256.in_(chunk), s.c.split.is_(None)).values(split=split))


def describe(where: SampleFilter, statuses: Sequence[str]) -> str:
    """The filters in words, for messages."""
    parts = [f"status {'/'.join(statuses)}"]
    for field in ("device", "sampler", "class_name", "since", "until"):
        value = getattr(where, field)
        if value is not None:
            parts.append(f"{field.replace('_name', '')} {value}")
    return ", ".join(parts)


def _latest(conn: sa.Connection, name: str) -> Any:
    d = schema.datasets
    return conn.execute(
        sa.select(d.c.version, d.c.fingerprint, d.c.names, d.c.parent, d.c.created_at, d.c.note, d.c.counts)
        .where(d.c.name == name)
        .order_by(d.c.version.desc())
        .limit(1)
    ).first()


def _version(
    row: Any, manifest: dict[str, Any] | None, created: bool = True, name: str | None = None
) -> DatasetVersion:
    return DatasetVersion(
        name=name if name is not None else row.name,
        version=row.version,
        fingerprint=row.fingerprint,
        parent=row.parent,
        created_at=row.created_at,
        note=row.note,
        names=tuple(row.names),
        counts={k: int(v) for k, v in row.counts.items()},
        manifest=manifest,
        created=created,
    )


def list_versions(bind: sa.Engine | sa.Connection, name: str | None = None) -> list[DatasetVersion]:
    """Every version (of ``name``, or of all datasets), by name then version; no manifests."""
    d = schema.datasets
    query = sa.select(*(c for c in d.c if c.name != "manifest")).order_by(d.c.name, d.c.version)
    if name is not None:
        query = query.where(d.c.name == check_name(name))
    with transaction(bind) as conn:
        return [_version(row, None) for row in conn.execute(query)]


def show(bind: sa.Engine | sa.Connection, name: str, version: int | None = None) -> DatasetVersion:
    """One version with its manifest (``version`` None: the latest).

    Raises:
        DatasetNotFound: no such dataset or version.
    """
    d = schema.datasets
    query = sa.select(d).where(d.c.name == check_name(name))
    query = query.where(d.c.version == version) if version is not None else query.order_by(d.c.version.desc())
    with transaction(bind) as conn:
        row = conn.execute(query.limit(1)).first()
        if row is None:
            have = conn.execute(sa.select(sa.func.max(d.c.version)).where(d.c.name == name)).scalar()
    if row is None:
        if have is None:
            raise DatasetNotFound(f"no dataset {name!r}; create it with: edgeloop hub dataset create {name}")
        raise DatasetNotFound(f"dataset {name} has no version {version}; its versions are 1..{have}")
    return _version(row, dict(row.manifest))


def export(
    bind: sa.Engine | sa.Connection,
    blobs: BlobReader,
    name: str,
    version: int | None,
    out_dir: str | Path,
    format: str = "yolo",
) -> ExportResult:
    """Write a version as a dataset folder (``dataset_export.write_version``)."""
    from edgeloop.hub.dataset_export import write_version

    return write_version(show(bind, name, version), blobs, Path(out_dir), format)
