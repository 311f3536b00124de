"""The labelling hand-off: pending samples out to a labelling tool, labelled results back in.

``export_pending`` writes the hub's pending samples, with the devices' predictions
as pre-annotations, through the same writers as ``edgeloop spool export``
(``improve.export``): Label Studio import tasks, CVAT for images 1.1, COCO, YOLO
or VOC. Every image is named ``<sha256>.<ext>``, so whatever the tool exports
names the sample it came from. ``import_labelled`` reads what the tool exported
(Label Studio JSON export, CVAT XML, COCO, YOLO; a file, a folder or a zip),
matches every image back to its sample by the sha256 in its name (else by the
sha256 of the image file), and sets ``labels`` / ``status = 'labelled'`` on the
caller's connection: commit it once, and the import is one transaction.
Images the tool did not send back are read from the blob store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.data.dataset import Item
from edgeloop.data.issues import Issue, Issues
from edgeloop.data.labelled import read_labels
from edgeloop.hub import schema
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.ingest import sample_key
from edgeloop.hub.label_files import (
    SHA256,
    UNLABELLED,
    changed_boxes,
    fetch_blob,
    file_name,
    staged_source,
)
from edgeloop.improve.export import ExportOptions, ExportResult, ExportSample, export_samples
from edgeloop.improve.inventory import iso_utc

LABEL_FORMATS = ("labelstudio", "cvat", "coco", "yolo", "voc")


@dataclass(frozen=True)
class PendingFilter:
    """Which samples to export (all given conditions hold).

    Attributes:
        status: ``pending`` (the default), ``labelled``, ``rejected`` or ``all``.
        device: only this device's samples.
        sampler: only samples kept by this sampler.
        class_name: only samples whose predictions include this class.
        since: captured at or after (UNIX seconds).
        until: captured before (UNIX seconds).
        limit: at most this many, the oldest first.
    """

    status: str = "pending"
    device: str | None = None
    sampler: str | None = None
    class_name: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None


def pending_query(filters: PendingFilter) -> sa.Select[Any]:
    """The samples ``filters`` selects, oldest capture first."""
    s = schema.samples
    query = sa.select(s)
    if filters.status != "all":
        query = query.where(s.c.status == filters.status)
    if filters.device is not None:
        query = query.where(s.c.device == filters.device)
    if filters.sampler is not None:
        query = query.where(s.c.sampler == filters.sampler)
    if filters.class_name is not None:
        query = query.where(s.c.classes.contains(f",{filters.class_name},", autoescape=True))
    if filters.since is not None:
        query = query.where(s.c.captured_at >= filters.since)
    if filters.until is not None:
        query = query.where(s.c.captured_at < filters.until)
    query = query.order_by(s.c.captured_at, s.c.sha256)
    return query if filters.limit is None else query.limit(filters.limit)


def _export_sample(row: sa.Row[Any], blobs: BlobStore) -> ExportSample:
    name = file_name(row.sha256, row.media_type)
    model = f"{row.model_name} {row.model_version}".strip()
    info = {
        "name": name,
        "sha256": row.sha256,
        "device": row.device,
        "sampler": row.sampler,
        "score": row.score,
        "reason": row.reason,
        "tags": ",".join(str(t) for t in row.tags or []),
        "model": model,
        "captured_at": iso_utc(row.captured_at),
        "status": row.status,
    }
    key = sample_key(row.sha256)
    return ExportSample(
        name,
        (row.width, row.height),
        row.labels if row.labels is not None else row.predictions or {},
        info,
        model or "edgeloop",
        row.score,
        lambda target: fetch_blob(blobs, key, target),
    )


def export_pending(
    conn: sa.Connection,
    blobs: BlobStore,
    out_dir: Path,
    format: str,
    filters: PendingFilter | None = None,
    image_url: str | None = None,
    document_root: Path | None = None,
    names: tuple[str, ...] | None = None,
    min_confidence: float = 0.0,
) -> ExportResult:
    """Write the samples ``filters`` selects (default: every pending one) to the new folder ``out_dir``.

    The devices' predictions become pre-annotations (Label Studio ``predictions``,
    CVAT ``source="auto"`` boxes, the labels of COCO / YOLO / VOC); a sample labelled
    already (``status="labelled"`` or ``"all"``) brings its labels instead. ``image_url`` and
    ``document_root`` say where Label Studio serves the images from (see
    ``ExportOptions``). A sample whose blob is gone is counted in ``missing``.
    """
    options = ExportOptions(format, names, min_confidence, image_url, document_root)
    rows = conn.execute(pending_query(filters or PendingFilter())).all()
    return export_samples([_export_sample(r, blobs) for r in rows], out_dir, options)


@dataclass(frozen=True)
class ImportReport:
    """What an import changed.

    Attributes:
        matched: images matched to a hub sample, now labelled.
        unmatched: labelled images that name no sample of this hub (left out).
        unlabelled: tasks nobody labelled yet (Label Studio; left out, the samples stay as they were).
        boxes: boxes the matched samples now hold.
        boxes_added, boxes_removed, boxes_modified: against what each sample held before
            (its labels, else the device's predictions); modified = moved more than 1 px or re-classed.
        samples: the sha256 of every sample labelled.
        problems: entries the reader skipped (missing image, unknown class, broken box).
    """

    path: Path
    format: str
    names: tuple[str, ...]
    matched: int
    unmatched: int
    unlabelled: int
    boxes: int
    boxes_added: int
    boxes_removed: int
    boxes_modified: int
    samples: tuple[str, ...] = ()
    unmatched_names: tuple[str, ...] = ()
    problems: tuple[Issue, ...] = field(default_factory=tuple)

    @property
    def boxes_changed(self) -> int:
        """Boxes added, removed or modified."""
        return self.boxes_added + self.boxes_removed + self.boxes_modified


def _known(conn: sa.Connection, shas: Iterable[str]) -> dict[str, sa.Row[Any]]:
    s = schema.samples
    wanted = sorted(set(shas))
    found: dict[str, sa.Row[Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = sa.select(
            s.c.sha256, s.c.width, s.c.height, s.c.media_type, s.c.predictions, s.c.labels
        ).where(s.c.sha256.in_(chunk))
        found.update({row.sha256: row for row in conn.execute(query)})
    return found


def hub_class_ids(rows: Iterable[sa.Row[Any]], names: Sequence[str]) -> dict[str, int]:
    """Class ids for the labels: the devices' ids for the classes their predictions name (a
    tool's export may list classes in any order), the next free ids for classes they never named."""
    ids: dict[str, int] = {}
    for row in rows:
        for wire in (row.predictions, row.labels):
            for p in (wire or {}).get("predictions") or []:
                if isinstance(p, dict) and isinstance(p.get("class_id"), int):
                    ids.setdefault(str(p.get("class")), p["class_id"])
    for name in names:
        if name not in ids:
            ids[name] = max(ids.values(), default=-1) + 1
    return ids


def _sha_of(item: Item) -> str:
    found = SHA256.findall(item.name.lower())
    if found:
        return str(found[-1])
    return hashlib.sha256(item.image.read_bytes()).hexdigest()


def import_labelled(
    conn: sa.Connection,
    blobs: BlobStore,
    path: Path,
    format: str | None = None,
    by: str = "",
    names: tuple[str, ...] | None = None,
    now: float | None = None,
) -> ImportReport:
    """Set the labels a labelling tool exported on the samples they belong to.

    Args:
        path: a Label Studio JSON export, a CVAT XML, a COCO or YOLO folder, or a zip of one.
        format: labelstudio, cvat, coco, yolo or voc (default: detected).
        by: who labelled (``labelled_by``).
        names: class names in order (default: the tool's label list).

    Every change is made on ``conn``; the caller commits once (``with engine.begin()``).
    """
    issues = Issues()
    with staged_source(path, format, lambda shas: _known(conn, shas), blobs) as (source, images):
        fmt, ds = read_labels(source, format, images, names, False, issues)
        shas = [_sha_of(item) for item in ds.items]
    rows = _known(conn, shas)
    class_ids = hub_class_ids(rows.values(), ds.names)
    stamp = time.time() if now is None else now
    labelled, unmatched, counts = [], [], [0, 0, 0, 0]
    for item, sha in zip(ds.items, shas, strict=True):
        row = rows.get(sha)
        if row is None or item.detections is None:
            unmatched.append(item.name)
            continue
        labels = item.detections.to_json((row.width, row.height))
        for p in labels["predictions"]:
            p.update(confidence=1.0, class_id=class_ids[p["class"]])
        before = row.labels if row.labels is not None else row.predictions
        for i, n in enumerate((len(labels["predictions"]), *changed_boxes(before, labels))):
            counts[i] += n
        conn.execute(
            sa.update(schema.samples)
            .where(schema.samples.c.sha256 == sha)
            .values(labels=labels, status="labelled", labelled_at=stamp, labelled_by=by or f"{fmt} import")
        )
        labelled.append(sha)
    problems = tuple(i for i in issues.found if i.kind != UNLABELLED)
    unlabelled = len(issues.found) - len(problems)
    boxes, added, removed, modified = counts
    return ImportReport(
        path,
        fmt,
        ds.names,
        len(labelled),
        len(unmatched),
        unlabelled,
        boxes,
        added,
        removed,
        modified,
        tuple(labelled),
        tuple(unmatched),
        problems,
    )


def summary(report: ImportReport) -> Sequence[str]:
    """The lines ``edgeloop hub label import`` prints."""
    lines = [
        f"labelled {report.matched} samples ({report.format}), {report.boxes} boxes: "
        f"{report.boxes_changed} changed ({report.boxes_added} added, {report.boxes_removed} removed, "
        f"{report.boxes_modified} moved or re-classed)"
    ]
    if report.unmatched:
        shown = ", ".join(report.unmatched_names[:3])
        lines.append(f"{report.unmatched} images name no sample of this hub and were left out ({shown})")
    if report.unlabelled:
        lines.append(f"{report.unlabelled} tasks not labelled yet were left out")
    if report.problems:
        lines.append(f"{len(report.problems)} entries skipped:")
        lines += [f"  {p.message}" for p in report.problems[:5]]
    return lines
