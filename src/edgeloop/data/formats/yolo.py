"""YOLO: ``data.yaml`` with class names, ``images/``, and one ``labels/*.txt`` per image.

Each label line is ``class cx cy w h`` with centre and size normalised by the image size.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from edgeloop.data.dataset import (
    Dataset,
    DatasetFormat,
    Item,
    copy_image,
    image_size,
    labelled_boxes,
    list_images,
    new_output_dir,
    require_task,
)
from edgeloop.data.issues import (
    BAD_LABEL,
    ORPHAN_LABEL,
    UNKNOWN_CLASS,
    UNREADABLE_IMAGE,
    Issues,
    remember_boxes,
    report,
)
from edgeloop.errors import DatasetError
from edgeloop.progress import progress
from edgeloop.types import Detections


def detect(path: Path) -> bool:
    """A folder with ``data.yaml`` (or ``data.yml``)."""
    return _yaml_path(path) is not None


def _yaml_path(path: Path) -> Path | None:
    for name in ("data.yaml", "data.yml"):
        if (path / name).is_file():
            return path / name
    return None


def _read_names(path: Path) -> tuple[str, ...]:
    import yaml

    yaml_path = _yaml_path(path)
    if yaml_path is None:
        raise DatasetError(f"{path}: no data.yaml; a YOLO dataset needs one with 'names: [...]'")
    try:
        config: Any = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DatasetError(f"{yaml_path}: not valid YAML ({exc}); fix the file") from exc
    names = config.get("names") if isinstance(config, dict) else None
    if isinstance(names, dict):
        try:
            return tuple(str(names[i]) for i in range(len(names)))
        except KeyError as exc:
            raise DatasetError(f"{yaml_path}: 'names' ids must be 0..N-1 without gaps") from exc
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    raise DatasetError(f"{yaml_path}: missing 'names'; add 'names: [class0, class1, ...]'")


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a YOLO dataset; an image without a label file has no boxes."""
    names = _read_names(path)
    images_dir = path / "images"
    if not images_dir.is_dir():
        raise DatasetError(f"{path}: no images/ folder; a YOLO dataset keeps its images in images/")
    items = []
    stems = set()
    for image in progress(list_images(images_dir), "reading images"):
        rel = image.relative_to(images_dir)
        stems.add(rel.with_suffix("").as_posix())
        try:
            size_wh = image_size(image)
        except DatasetError as exc:
            report(issues, UNREADABLE_IMAGE, f"images/{rel.as_posix()}", str(exc))
            continue
        label = (path / "labels" / rel).with_suffix(".txt")
        detections = Detections.empty(names)
        if label.is_file():
            detections, where = _read_labels(label, size_wh, names, issues, path)
            remember_boxes(issues, rel.as_posix(), where)
        items.append(Item(image, rel.as_posix(), size_wh, detections))
    if issues is not None and (path / "labels").is_dir():
        for label in sorted((path / "labels").rglob("*.txt")):
            if label.relative_to(path / "labels").with_suffix("").as_posix() not in stems:
                orphan = label.relative_to(path).as_posix()
                message = f"{label}: no image for this label file; add the image or delete the file"
                issues.add(ORPHAN_LABEL, orphan, message)
    return Dataset(names, tuple(items), "detect")


def _read_labels(
    label: Path, size_wh: tuple[int, int], names: tuple[str, ...], issues: Issues | None, root: Path
) -> tuple[Detections, list[str]]:
    rows, numbers = [], []
    where = label.relative_to(root).as_posix()
    for number, line in enumerate(label.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 5:
                raise ValueError
            row = [float(f) for f in fields]
        except ValueError:
            got = line.strip()
            message = f"{label}:{number}: expected 'class cx cy w h' (5 numbers), got {got!r}; fix the line"
            report(issues, BAD_LABEL, f"{where}:{number}", message)
            continue
        if row[0] != round(row[0]) or not 0 <= row[0] < len(names):
            message = (
                f"{label}:{number}: class {row[0]:g} is not one of the {len(names)} names in data.yaml "
                f"(0..{len(names) - 1}); fix the label or add the name"
            )
            report(issues, UNKNOWN_CLASS, f"{where}:{number}", message)
            continue
        rows.append(row)
        numbers.append(number)
    if not rows:
        return Detections.empty(names), []
    table = np.asarray(rows, np.float64)
    width, height = size_wh
    cx, cy, w, h = table[:, 1] * width, table[:, 2] * height, table[:, 3] * width, table[:, 4] * height
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes = labelled_boxes(xyxy, table[:, 0].astype(np.int32).tolist(), names)
    return boxes, [f"{where}:{n}" for n in numbers]


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` to a new folder: ``data.yaml``, ``images/``, ``labels/``."""
    require_task(ds, "detect", "yolo")
    new_output_dir(path)
    for item in ds.items:
        copy_image(item, path / "images" / item.name)
    write_annotations(ds, path)


def write_annotations(ds: Dataset, path: Path) -> None:
    """Write ``data.yaml`` and the label files for images already under ``path/images``."""
    import yaml

    config = {"path": ".", "train": "images", "val": "images", "names": list(ds.names)}
    (path / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for item in ds.items:
        label = (path / "labels" / PurePosixPath(item.name)).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(_label_text(item), encoding="utf-8")


def _label_text(item: Item) -> str:
    if item.detections is None:
        return ""
    width, height = item.size_wh
    lines = []
    for (x1, y1, x2, y2), cls in zip(
        item.detections.xyxy.tolist(), item.detections.class_id.tolist(), strict=True
    ):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        w, h = (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{cls} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
    return "".join(lines)


FORMAT = DatasetFormat("yolo", "detect", detect, load, save)
