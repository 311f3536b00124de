"""COCO: one JSON file (``images``, ``annotations``, ``categories``) beside an ``images/`` folder.

Boxes are ``[x, y, width, height]`` in pixels. Category ids need not be contiguous:
they map to class ids in ascending id order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.data.dataset import (
    Dataset,
    DatasetFormat,
    Item,
    copy_image,
    labelled_boxes,
    new_output_dir,
    require_task,
)
from edgeloop.data.formats.locate import first_char
from edgeloop.data.issues import (
    BAD_LABEL,
    MISSING_IMAGE,
    ORPHAN_LABEL,
    UNKNOWN_CLASS,
    Issues,
    note,
    remember_boxes,
    report,
)
from edgeloop.errors import DatasetError
from edgeloop.types import Detections

ANNOTATIONS = "annotations.json"


def _json_path(path: Path) -> Path | None:
    if (path / ANNOTATIONS).is_file():
        return path / ANNOTATIONS
    found = sorted(path.glob("*.json"))
    return found[0] if len(found) == 1 else None


def detect(path: Path) -> bool:
    """A folder with ``annotations.json`` (or exactly one ``.json`` file) holding an object, and ``images/``.

    A JSON list is a Label Studio export, not COCO.
    """
    json_path = _json_path(path)
    return json_path is not None and (path / "images").is_dir() and first_char(json_path) == "{"


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a COCO detection dataset; images are looked up under ``images/``."""
    json_path = _json_path(path)
    if json_path is None:
        raise DatasetError(f"{path}: no {ANNOTATIONS}; a COCO dataset needs one JSON file with the labels")
    if not (path / "images").is_dir():
        raise DatasetError(f"{path}: no images/ folder; put the images named in {json_path.name} there")
    try:
        doc: Any = json.loads(json_path.read_text(encoding="utf-8"))
        categories = sorted(doc["categories"], key=lambda c: int(c["id"]))
        class_of = {int(c["id"]): i for i, c in enumerate(categories)}
        names = tuple(str(c["name"]) for c in categories)
        images = [(int(image["id"]), image) for image in doc["images"]]
        annotations = list(doc.get("annotations", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(
            f"{json_path}: not a COCO detection file ({type(exc).__name__}: {exc}); "
            "it needs 'images', 'annotations' and 'categories' with ids, file_name, bbox"
        ) from exc
    image_ids = {image_id for image_id, _ in images}
    boxes: dict[int, list[_Box]] = defaultdict(list)
    for index, ann in enumerate(annotations):
        box = _annotation(json_path, index, ann, class_of, issues)
        if box is None:
            continue
        if box.image_id not in image_ids:
            message = f"{json_path}: {box.where} names image_id {box.image_id}, which is not in 'images'"
            note(
                issues,
                ORPHAN_LABEL,
                f"{json_path.name}: {box.where}",
                message + "; remove it or add the image",
            )
            continue
        boxes[box.image_id].append(box)
    items: list[Item] = []
    seen: set[str] = set()
    for image_id, image in images:
        item = _item(path, json_path, image, boxes[image_id], names, issues)
        if item is not None and item.name in seen:
            message = f"{json_path}: image {item.name} is listed twice in 'images'; remove one entry"
            report(issues, BAD_LABEL, f"{json_path.name}: image {item.name}", message)
        elif item is not None:
            seen.add(item.name)
            items.append(item)
    return Dataset(names, tuple(items), "detect")


@dataclass(frozen=True)
class _Box:
    image_id: int
    xywh: list[float]
    class_id: int
    where: str


def _annotation(
    json_path: Path, index: int, ann: Any, class_of: dict[int, int], issues: Issues | None
) -> _Box | None:
    where = f"annotation {ann.get('id', f'#{index + 1}') if isinstance(ann, dict) else f'#{index + 1}'}"
    try:
        xywh = [float(v) for v in ann["bbox"]]
        category, image_id = int(ann["category_id"]), int(ann["image_id"])
        if len(xywh) != 4:
            raise ValueError(f"bbox has {len(xywh)} numbers")
    except (KeyError, TypeError, ValueError) as exc:
        message = (
            f"{json_path}: {where} is malformed ({type(exc).__name__}: {exc}); it needs image_id, category_id"
        )
        report(issues, BAD_LABEL, f"{json_path.name}: {where}", message + " and bbox [x, y, w, h]")
        return None
    if category not in class_of:
        message = f"{json_path}: {where} has category_id {category}, which is not in 'categories'"
        report(issues, UNKNOWN_CLASS, f"{json_path.name}: {where}", message + "; fix it or add the category")
        return None
    return _Box(image_id, xywh, class_of[category], f"{json_path.name}: {where}")


def _item(
    path: Path,
    json_path: Path,
    image: dict[str, Any],
    boxes: list[_Box],
    names: tuple[str, ...],
    issues: Issues | None,
) -> Item | None:
    name = str(image.get("file_name", ""))
    file = path / "images" / name
    if not name or not file.is_file():
        message = f"{file}: image not found; add it or remove it from the JSON"
        report(issues, MISSING_IMAGE, f"images/{name}", message)
        return None
    try:
        size_wh = (int(image["width"]), int(image["height"]))
    except (KeyError, TypeError, ValueError) as exc:
        message = f"{json_path}: image {name} has no valid width/height ({exc}); add them"
        report(issues, BAD_LABEL, f"{json_path.name}: image {name}", message)
        return None
    remember_boxes(issues, name, [b.where for b in boxes])
    if not boxes:
        return Item(file, name, size_wh, Detections.empty(names))
    xywh = np.asarray([b.xywh for b in boxes], np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return Item(file, name, size_wh, labelled_boxes(xyxy, [b.class_id for b in boxes], names))


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` to a new folder: ``annotations.json`` and ``images/``."""
    require_task(ds, "detect", "coco")
    new_output_dir(path)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(ds.items, 1):
        copy_image(item, path / "images" / item.name)
        width, height = item.size_wh
        images.append({"id": image_id, "file_name": item.name, "width": width, "height": height})
        if item.detections is None:
            continue
        for (x1, y1, x2, y2), cls in zip(
            item.detections.xyxy.tolist(), item.detections.class_id.tolist(), strict=True
        ):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cls + 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(ds.names)]
    doc = {"images": images, "annotations": annotations, "categories": categories}
    (path / ANNOTATIONS).write_text(json.dumps(doc, indent=1), encoding="utf-8")


FORMAT = DatasetFormat("coco", "detect", detect, load, save)
