"""A dataset to label, with a model's predictions as pre-annotations, from the spool or the hub.

Both stores hand ``export_samples`` the same ``ExportSample`` (an image name, its
size, the stored wire-format predictions, where it came from, and a way to
write the image out), so every format is written by one path. YOLO, COCO and
VOC go through the dataset writers in ``data/formats`` (the predictions become
the labels a labeller corrects); Label Studio gets import tasks whose boxes are
``predictions`` (``model_version``, ``score``), CVAT an XML whose boxes are
``source="auto"``. Every export also writes ``samples.jsonl``: per image, the
sample it came from (sha256, sampler, score, reason, tags, device, model, time).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import FORMATS, cvat, labelstudio, save_dataset
from edgeloop.errors import ConfigError, DatasetError
from edgeloop.improve.inventory import SpoolView, iso_utc
from edgeloop.improve.records import Sample
from edgeloop.types import Detections

EXPORT_FORMATS = ("yolo", "coco", "voc", "labelstudio", "cvat")
PROVENANCE = "samples.jsonl"


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    Attributes:
        format: one of ``EXPORT_FORMATS``.
        names: class names in order (default: the classes the predictions name, by class id).
        min_confidence: predictions below this are not written.
        image_url: Label Studio: URL prefix the images are served under (the image name is appended).
        document_root: Label Studio: the local-files document root the export folder lies under
            (default: the export folder's parent).
    """

    format: str
    names: tuple[str, ...] | None = None
    min_confidence: float = 0.0
    image_url: str | None = None
    document_root: Path | None = None

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"--format {self.format}: choose one of {', '.join(EXPORT_FORMATS)}")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    format: str
    images: int
    boxes: int
    names: tuple[str, ...]
    missing: int  # samples whose image went away (evicted, acked, deleted) while exporting
    unknown_boxes: int  # predictions of classes not in ``names``, left out
    low_confidence: int  # predictions under ``min_confidence``, left out


@dataclass(frozen=True)
class ExportSample:
    """One image to export, from any store.

    Attributes:
        name: the image's file name in the export (unique).
        size_wh: image width and height in pixels.
        predictions: the stored detection wire format (box centres in pixels).
        info: where it came from: one line of ``samples.jsonl`` (``name`` first); the other
            fields become Label Studio task data.
        model: names the model that made the predictions (Label Studio ``model_version``).
        score: the sampler's score (Label Studio sorts and filters tasks by it).
        fetch: writes the image to the given path; False when the image is gone.
    """

    name: str
    size_wh: tuple[int, int]
    predictions: Mapping[str, Any]
    info: Mapping[str, Any]
    model: str
    score: float | None
    fetch: Callable[[Path], bool]


def sample_name(sample: Sample) -> str:
    """The image name of a spool sample in an export: its sequence number, then its hash."""
    return f"{sample.seq:08d}-{sample.sha256[:12]}.jpg"


def _wire(predictions: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = predictions.get("predictions") or []
    return [p for p in found if isinstance(p, dict)]


def class_names(samples: Sequence[ExportSample]) -> tuple[str, ...]:
    """Classes the stored predictions name, in the model's class-id order."""
    first_id: dict[str, int] = {}
    for sample in samples:
        for p in _wire(sample.predictions):
            name = str(p.get("class", p.get("class_id")))
            first_id[name] = min(first_id.get(name, 1 << 30), int(p.get("class_id", 1 << 30)))
    return tuple(sorted(first_id, key=lambda n: (first_id[n], n)))


def wire_detections(
    predictions: Mapping[str, Any], names: tuple[str, ...], min_confidence: float = 0.0
) -> tuple[Detections, int, int]:
    """Wire-format predictions (box centres in pixels) as xyxy ``Detections`` over ``names``.

    Returns:
        the detections, how many named a class not in ``names``, how many were under ``min_confidence``.
    """
    boxes, confidence, classes, unknown, low = [], [], [], 0, 0
    for p in _wire(predictions):
        name = str(p.get("class", p.get("class_id")))
        if float(p.get("confidence", 1.0)) < min_confidence:
            low += 1
            continue
        if name not in names:
            unknown += 1
            continue
        x, y, w, h = (float(p[k]) for k in ("x", "y", "width", "height"))
        boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
        confidence.append(float(p.get("confidence", 1.0)))
        classes.append(names.index(name))
    detections = Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(confidence, np.float32),
        np.asarray(classes, np.int32),
        names,
    )
    return detections, unknown, low


def provenance(sample: Sample) -> dict[str, Any]:
    """Where an exported spool image came from (one line of ``samples.jsonl``, and Label Studio task data)."""
    r = sample.record
    return {
        "name": sample_name(sample),
        "sha256": sample.sha256,
        "seq": sample.seq,
        "state": sample.state,
        "sampler": r.sampler,
        "score": r.score,
        "reason": r.reason,
        "tags": ",".join(r.tags),
        "device_id": r.device_id,
        "model": f"{r.model_name} {r.model_version}".strip(),
        "captured_at": iso_utc(r.wall_time),
    }


def spool_sample(view: SpoolView, sample: Sample) -> ExportSample:
    """A spool sample as an ``ExportSample`` (its image is linked out of the spool)."""
    info = provenance(sample)
    source = view.path(sample.sha256)
    return ExportSample(
        info["name"],
        (sample.record.width, sample.record.height),
        sample.record.predictions,
        info,
        info["model"] or "edgeloop",
        sample.record.score,
        lambda target: link_file(source, target),
    )


def export_spool(
    view: SpoolView, samples: Sequence[Sample], out: Path, options: ExportOptions
) -> ExportResult:
    """Write spool ``samples`` to the new folder ``out`` in ``options.format``.

    The images are first linked (or copied) out of the spool, so a capture process
    evicting or acking samples meanwhile cannot break the export: a sample whose
    file is already gone is left out and counted in ``missing``.
    """
    return export_samples([spool_sample(view, s) for s in samples], out, options)


def export_samples(samples: Sequence[ExportSample], out: Path, options: ExportOptions) -> ExportResult:
    """Write ``samples`` to the new folder ``out`` in ``options.format``.

    Each image is fetched into a staging folder beside ``out`` first; one that is gone
    by then is left out and counted in ``missing``. The staging folder is removed.
    """
    FORMATS.get(options.format)
    names = options.names or class_names(samples)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not empty: choose a new output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".images", dir=out.parent))
    try:
        return _export(samples, out, options, names, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export(
    samples: Sequence[ExportSample],
    out: Path,
    options: ExportOptions,
    names: tuple[str, ...],
    staging: Path,
) -> ExportResult:
    items, kept, unknown, low = [], [], 0, 0
    for sample in samples:
        if not sample.fetch(staging / sample.name):
            continue
        detections, u, lo = wire_detections(sample.predictions, names, options.min_confidence)
        unknown, low = unknown + u, low + lo
        items.append(Item(staging / sample.name, sample.name, sample.size_wh, detections))
        kept.append(sample)
    ds = Dataset(names, tuple(items), "detect")
    if options.format == "labelstudio":
        infos = {s.name: _task_info(s) for s in kept}
        labelstudio.write(ds, out, "predictions", _url_of(out, options), infos)
    elif options.format == "cvat":
        cvat.write(ds, out, "auto")
    else:
        save_dataset(ds, out, options.format)
    with (out / PROVENANCE).open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(dict(s.info)) + "\n" for s in kept)
    boxes = sum(len(i.detections) for i in items if i.detections is not None)
    return ExportResult(
        out, options.format, len(items), boxes, names, len(samples) - len(items), unknown, low
    )


def link_file(source: Path, target: Path) -> bool:
    """Hard-link (or copy) a file to ``target``; False when the source is gone."""
    try:
        os.link(source, target)
    except FileNotFoundError:
        return False
    except OSError:  # another filesystem, or links not allowed
        try:
            shutil.copyfile(source, target)
        except FileNotFoundError:
            return False
    return True


def _task_info(sample: ExportSample) -> labelstudio.TaskInfo:
    data = {k: v for k, v in sample.info.items() if k != "name"}
    return labelstudio.TaskInfo(data, sample.model, sample.score)


def _url_of(out: Path, options: ExportOptions) -> Callable[[Item], str]:
    if options.image_url is not None:
        prefix = options.image_url if options.image_url.endswith("/") else options.image_url + "/"
        return lambda item: prefix + quote(item.name)
    root = (options.document_root or out.parent).resolve()
    images = out.resolve() / "images"
    try:
        under = images.relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(
            f"--document-root {root}: the export folder {out} is not under it; "
            "export into a folder under Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
        ) from None
    return lambda item: labelstudio.local_files_url(f"{under}/{item.name}")
