"""Find every defect of a dataset in one pass, and write a cleaned copy.

Errors (the dataset is broken): missing or unreadable images, label files without
an image, malformed label lines, unknown class ids, NaN, zero-area and
out-of-bounds boxes, image sizes that differ from the labels, exact duplicate
images. Warnings (worth knowing): classes
with no instances, and class imbalance above a ratio.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeloop.data import issues as K
from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import detect_format, load_dataset, save_dataset
from edgeloop.data.issues import Issues
from edgeloop.errors import DatasetError, ImageError
from edgeloop.imaging import oriented_size, read_header
from edgeloop.progress import progress
from edgeloop.types import Detections

EXAMPLES = 5
_CHUNK = 1 << 20
BOUNDS_TOLERANCE_PX = 1e-3  # float round trips through normalised YOLO labels stay well inside this
CLIP_KEEP_FRACTION = 0.5  # --fix clips a box that keeps at least this much of its area inside, else drops it
WARNINGS = (K.EMPTY_CLASS, K.IMBALANCE)
HINTS = {
    K.MISSING_IMAGE: "add the images or remove their labels",
    K.UNREADABLE_IMAGE: "replace or delete these image files",
    K.ORPHAN_LABEL: "add the images or delete these label files",
    K.BAD_LABEL: "fix or remove these labels",
    K.UNKNOWN_CLASS: "fix the class ids or add the class names",
    K.OUT_OF_BOUNDS: "clip the boxes to the image",
    K.ZERO_AREA: "give the boxes a size or remove them",
    K.NAN_BOX: "remove the boxes or give them numbers",
    K.SIZE_MISMATCH: "fix the image width/height in the labels",
    K.DUPLICATE_IMAGE: "keep one copy of each image",
    K.NO_IMAGES: "add images",
    K.EMPTY_CLASS: "add examples of these classes or remove them from the names",
    K.IMBALANCE: "add examples of the rare classes (or weight them in training)",
}


@dataclass(frozen=True)
class Finding:
    """One kind of defect: how many, where the first few are, and what to do."""

    kind: str
    severity: Literal["error", "warning"]
    count: int
    examples: tuple[str, ...]
    hint: str


@dataclass(frozen=True)
class CheckReport:
    """The result of checking a dataset; ``clean`` when it has no errors (warnings allowed)."""

    path: str
    format: str
    task: str
    images: int
    boxes: int
    class_counts: dict[str, int]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(f.count for f in self.findings if f.severity == "error")

    @property
    def clean(self) -> bool:
        return self.errors == 0

    def count(self, kind: str) -> int:
        """How many defects of ``kind`` were found (0 when none)."""
        return sum(f.count for f in self.findings if f.kind == kind)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "clean": self.clean, "errors": self.errors}


@dataclass(frozen=True)
class _Scan:
    report: CheckReport
    dataset: Dataset
    drop: frozenset[str]  # item names --fix leaves out: unreadable images and duplicate copies
    issues: Issues


def check_dataset(path: str | Path, format: str | None = None, max_imbalance: float = 10.0) -> CheckReport:
    """Check a dataset folder without modifying it."""
    return _scan(Path(path), format, max_imbalance).report


def fix_dataset(
    src: str | Path, out: str | Path, format: str | None = None, max_imbalance: float = 10.0
) -> tuple[CheckReport, dict[str, int]]:
    """Check ``src`` and write a cleaned copy to the new folder ``out``, in the same format.

    Drops missing/unreadable images, label files without images, broken labels,
    NaN and zero-area boxes and all but the first (by name) of each duplicate set;
    clips boxes that are slightly out of bounds and drops those mostly outside;
    writes true image sizes where the labels had them wrong.
    ``src`` is never modified. Returns the report on ``src`` and counts of what was
    changed (``labels_dropped``: broken label lines, annotations, files).
    """
    src, out = Path(src), Path(out)
    root, target = src.resolve(), out.resolve()
    if target == root or target.is_relative_to(root) or root.is_relative_to(target):
        raise DatasetError(f"{out}: the cleaned copy must go outside the source folder; choose another path")
    scan = _scan(src, format, max_imbalance)
    kinds = Counter(i.kind for i in scan.issues.found)  # what the tolerant load already left out
    changes = {
        "images_dropped": len(scan.drop) + kinds[K.MISSING_IMAGE] + kinds[K.UNREADABLE_IMAGE],
        "labels_dropped": kinds[K.BAD_LABEL] + kinds[K.UNKNOWN_CLASS] + kinds[K.ORPHAN_LABEL],
        "boxes_clipped": 0,
        "boxes_dropped": 0,
    }
    items = []
    for item in scan.dataset.items:
        if item.name in scan.drop:
            continue
        if item.detections is not None:
            detections, clipped, dropped = clean_boxes(item.detections, item.size_wh)
            changes["boxes_clipped"] += clipped
            changes["boxes_dropped"] += dropped
            item = replace(item, detections=detections)
        items.append(item)
    save_dataset(replace(scan.dataset, items=tuple(items)), out, scan.report.format)
    return scan.report, changes


def box_defects(xyxy: np.ndarray, size_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks over (N, 4) pixel xyxy boxes: (not finite, zero or negative area, out of the image)."""
    nan = ~np.isfinite(xyxy).all(axis=1)
    with np.errstate(invalid="ignore"):
        zero = ~nan & ((xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1]))
        width, height = size_wh
        tol = BOUNDS_TOLERANCE_PX
        outside = (xyxy[:, :2] < -tol).any(axis=1) | (xyxy[:, 2] > width + tol) | (xyxy[:, 3] > height + tol)
    return nan, zero, ~nan & ~zero & outside


def clean_boxes(det: Detections, size_wh: tuple[int, int]) -> tuple[Detections, int, int]:
    """Drop NaN and zero-area boxes, clip out-of-bounds ones; returns (boxes, clipped, dropped)."""
    nan, zero, outside = box_defects(det.xyxy, size_wh)
    width, height = size_wh
    xyxy = np.nan_to_num(det.xyxy)
    clipped = np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    too_far = outside & (kept_area < CLIP_KEEP_FRACTION * area)
    keep = ~(nan | zero | too_far)
    fixed = Detections(clipped[keep], det.confidence[keep], det.class_id[keep], det.names)
    return fixed, int((outside & keep).sum()), int((~keep).sum())


def _scan(path: Path, format: str | None, max_imbalance: float) -> _Scan:
    fmt = format or detect_format(path)
    issues = Issues()
    ds = load_dataset(path, fmt, issues)
    found: dict[str, list[str]] = defaultdict(list)
    for issue in issues.found:
        found[issue.kind].append(issue.where)
    by_hash: dict[str, list[str]] = defaultdict(list)
    drop: set[str] = set()
    checked = []
    for item in progress(ds.items, "checking images"):
        read = _read_image(item)
        if read is None:
            found[K.UNREADABLE_IMAGE].append(item.name)
            drop.add(item.name)
            checked.append(item)
            continue
        digest, size_wh = read
        by_hash[digest].append(item.name)
        if size_wh != item.size_wh:
            (w, h), (iw, ih) = item.size_wh, size_wh
            found[K.SIZE_MISMATCH].append(f"{item.name}: labels say {w}x{h}, the image is {iw}x{ih}")
            item = replace(item, size_wh=size_wh)  # boxes are checked, and --fix written, at the true size
        if item.detections is not None:
            _check_boxes(item, issues.box_where.get(item.name), found)
        checked.append(item)
    ds = replace(ds, items=tuple(checked))
    for names in by_hash.values():
        first, *copies = sorted(names)
        found[K.DUPLICATE_IMAGE] += [f"{copy} = {first}" for copy in copies]
        drop.update(copies)
    if not ds.items:
        found[K.NO_IMAGES].append(str(path))
    counts = _class_counts(ds, drop)
    warnings = _balance(counts, max_imbalance)
    findings = [_finding(kind, where) for kind, where in found.items() if where]
    findings += [_finding(kind, where) for kind, where in warnings.items() if where]
    findings.sort(key=lambda f: (f.severity == "warning", list(HINTS).index(f.kind)))
    boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
    report = CheckReport(str(path), fmt, ds.task, len(ds), boxes, counts, tuple(findings))
    return _Scan(report, ds, frozenset(drop), issues)


def _read_image(item: Item) -> tuple[str, tuple[int, int]] | None:
    """sha256 and displayed size of the image file, or None when it is unreadable or not an image."""
    try:
        with item.image.open("rb") as f:
            head = f.read(_CHUNK)  # headers (with EXIF) sit in the first bytes
            size_wh = oriented_size(read_header(head))
            digest = hashlib.sha256(head)
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except (OSError, ImageError):
        return None
    return digest.hexdigest(), size_wh


def _check_boxes(item: Item, where: list[str] | None, found: dict[str, list[str]]) -> None:
    assert item.detections is not None
    masks = box_defects(item.detections.xyxy, item.size_wh)
    for kind, mask in zip((K.NAN_BOX, K.ZERO_AREA, K.OUT_OF_BOUNDS), masks, strict=True):
        for index in np.flatnonzero(mask).tolist():
            found[kind].append(where[index] if where else f"{item.name}: box {index + 1}")


def _class_counts(ds: Dataset, drop: set[str]) -> dict[str, int]:
    """Instances per class (boxes for detection, images for classification), duplicates left out."""
    counts: Counter[int] = Counter()
    for item in ds.items:
        if item.name in drop:
            continue
        if item.detections is not None:
            counts.update(item.detections.class_id.tolist())
        elif item.label is not None:
            counts[item.label] += 1
    return {name: counts[i] for i, name in enumerate(ds.names)}


def _balance(counts: dict[str, int], max_ratio: float) -> dict[str, list[str]]:
    empty = [name for name, n in counts.items() if n == 0]
    present = {name: n for name, n in counts.items() if n > 0}
    rare: list[str] = []
    if present:
        top_name, top = max(present.items(), key=lambda kv: kv[1])
        rare = [f"{name}: {n} vs {top_name}: {top} ({top / n:.1f}:1)" for name, n in present.items()]
        rare = [text for text, n in zip(rare, present.values(), strict=True) if top / n > max_ratio]
    return {K.EMPTY_CLASS: empty, K.IMBALANCE: rare}


def _finding(kind: str, where: list[str]) -> Finding:
    severity: Literal["error", "warning"] = "warning" if kind in WARNINGS else "error"
    return Finding(kind, severity, len(where), tuple(where[:EXAMPLES]), HINTS[kind])
