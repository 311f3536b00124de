"""A dataset version -> a dataset folder edgeloop (and other tools) read: one sub-dataset per split.

``OUT/train``, ``OUT/val`` and ``OUT/test`` are each a dataset in the chosen format
(the layout ``edgeloop dataset split`` writes and ``edgeloop train`` reads; an empty
split is left out), written by edgeloop's dataset formats; ``OUT/dataset.json`` holds
the version and its manifest. Images come from the blob store and are checked against
their sha256. The folder appears whole or not at all (built beside it, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import save_dataset
from edgeloop.errors import ConfigError, DatasetError, NotFound
from edgeloop.hub.manifest import SPLITS, DatasetVersion, image_name, item_detections

EXPORT_FORMATS = ("yolo", "coco", "voc")
VERSION_FILE = "dataset.json"


class BlobReader(Protocol):
    """The part of the hub's blob store an export needs."""

    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: images per split (empty splits are not written) and boxes."""

    path: Path
    format: str
    name: str
    version: int
    fingerprint: str
    counts: dict[str, int]
    boxes: int


def check_format(format: str) -> str:
    """``format`` if versions export to it, else a ConfigError listing the choices."""
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"--format {format}: versions export as yolo, coco or voc; pick one")
    return format


def write_version(
    version: DatasetVersion, blobs: BlobReader, out: Path, format: str = "yolo"
) -> ExportResult:
    """Write ``version`` (with its manifest) to the new folder ``out``.

    Raises:
        ConfigError: unknown format.
        DatasetError: ``out`` is not new or empty, or a sample's image is missing or corrupt.
    """
    check_format(format)
    if version.manifest is None:
        raise DatasetError(f"dataset {version.name}@{version.version}: no manifest loaded; use datasets.show")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not empty: choose a new output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        result = _write(version, blobs, staging, format)
        if out.exists():
            out.rmdir()
        os.replace(staging / "data", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, format, version.name, version.version, version.fingerprint, *result)


def _write(
    version: DatasetVersion, blobs: BlobReader, staging: Path, format: str
) -> tuple[dict[str, int], int]:
    assert version.manifest is not None
    images, data = staging / "images", staging / "data"
    images.mkdir()
    data.mkdir()
    parts: dict[str, list[Item]] = {name: [] for name in SPLITS}
    boxes = 0
    for entry in version.manifest["items"]:
        path = images / image_name(entry)
        path.write_bytes(_image(blobs, entry["sha256"], version))
        detections = item_detections(entry, version.names)
        boxes += len(detections)
        parts[entry["split"]].append(Item(path, path.name, (entry["width"], entry["height"]), detections))
    for split, items in parts.items():
        if items:
            save_dataset(Dataset(version.names, tuple(items), "detect"), data / split, format)
    record = {**version.summary(), "format": format, "manifest": version.manifest}
    (data / VERSION_FILE).write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    return {split: len(items) for split, items in parts.items()}, boxes


def _image(blobs: BlobReader, sha256: str, version: DatasetVersion) -> bytes:
    where = f"dataset {version.name}@{version.version}: sample {sha256}"
    try:
        data = blobs.get(f"samples/{sha256}")
    except NotFound as exc:
        raise DatasetError(f"{where}: image missing from the blob store; restore the blob") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DatasetError(f"{where}: the stored image does not match its sha256 (corrupt blob); restore it")
    return data


def tar_folder(folder: Path, tar_path: Path, arcname: str) -> None:
    """Pack ``folder`` as ``arcname/...`` into an uncompressed tar (images are compressed already)."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname=arcname)
