"""Labels back from a labelling tool: a Label Studio JSON export, a CVAT XML, or a dataset folder.

``import_labels`` reads what the tool exported, finds the images (``--images``,
else beside the file), and writes a normal dataset (YOLO by default) that
``edgeloop train`` and ``dataset check`` read. Broken entries are skipped and
counted; tasks nobody labelled yet are left out and counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import FORMATS, cvat, detect_format, labelstudio, load_dataset, save_dataset
from edgeloop.data.formats.locate import first_char
from edgeloop.data.issues import Issue, Issues
from edgeloop.errors import DatasetError

READERS = ("labelstudio", "cvat")


@dataclass(frozen=True)
class LabelledImport:
    """What was imported and what was left out."""

    path: Path
    source_format: str
    format: str
    images: int
    boxes: int
    names: tuple[str, ...]
    unlabelled: int
    defects: tuple[Issue, ...]


def source_format(src: Path) -> str:
    """The format of a labelling tool's file or a dataset folder.

    Raises:
        DatasetError: not recognised.
    """
    if src.is_dir():
        return detect_format(src)
    if src.suffix.lower() == ".xml":
        return "cvat"
    if src.suffix.lower() == ".json" and first_char(src) == "[":
        return "labelstudio"
    if src.suffix.lower() == ".json":
        raise DatasetError(
            f"{src}: a JSON object, not a Label Studio export (a list of tasks); for COCO pass the "
            "folder holding the JSON and images/"
        )
    raise DatasetError(
        f"{src}: not a Label Studio JSON export, a CVAT XML or a dataset folder; "
        "pass --from to name the format"
    )


def read_labels(
    src: Path,
    fmt: str | None = None,
    images: Path | None = None,
    names: tuple[str, ...] | None = None,
    predictions: bool = False,
    issues: Issues | None = None,
) -> tuple[str, Dataset]:
    """Read ``src`` (file or folder) as ``fmt`` (default: detected); returns (format, dataset)."""
    if not src.exists():
        raise DatasetError(f"{src}: no such file or folder")
    if images is not None and not images.is_dir():
        raise DatasetError(
            f"--images {images}: no such folder; name the folder that holds the labelled images"
        )
    fmt = fmt or source_format(src)
    FORMATS.get(fmt)
    if fmt == "labelstudio":
        path = src if src.is_file() else _one(src, labelstudio.TASKS, "*.json")
        return fmt, labelstudio.read(path, images, names, predictions, issues)
    if fmt == "cvat":
        path = src if src.is_file() else _one(src, cvat.ANNOTATIONS, "*.xml")
        return fmt, cvat.read(path, images, names, issues)
    if src.is_file():
        raise DatasetError(f"{src}: a {fmt} dataset is a folder; pass the folder")
    return fmt, load_dataset(src, fmt, issues)


def _one(folder: Path, preferred: str, pattern: str) -> Path:
    if (folder / preferred).is_file():
        return folder / preferred
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise DatasetError(f"{folder}: expected {preferred} (or one {pattern} file); pass the file itself")
    return found[0]


def import_labels(
    src: Path,
    out: Path,
    fmt: str | None = None,
    images: Path | None = None,
    names: tuple[str, ...] | None = None,
    predictions: bool = False,
    to: str = "yolo",
) -> LabelledImport:
    """Read labelled results from ``src`` and write them to the new folder ``out`` as ``to``.

    Raises:
        DatasetError: nothing usable was found (no labelled task with an image found).
    """
    FORMATS.get(to)
    issues = Issues()
    source, ds = read_labels(src, fmt, images, names, predictions, issues)
    defects = tuple(i for i in issues.found if i.kind != labelstudio.UNLABELLED)
    unlabelled = len(issues.found) - len(defects)
    if not ds.items:
        first = f" (first problem: {defects[0].message})" if defects else ""
        raise DatasetError(
            f"{src}: no labelled image to import: {unlabelled} tasks not labelled yet, "
            f"{len(defects)} problems{first}"
        )
    save_dataset(ds, out, to)
    boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
    return LabelledImport(out, source, to, len(ds), boxes, ds.names, unlabelled, defects)


def summarise(defects: tuple[Issue, ...]) -> str:
    """``3 missing_image, 1 unknown_class`` for a list of defects."""
    return ", ".join(f"{n} {kind}" for kind, n in Counter(d.kind for d in defects).most_common())
