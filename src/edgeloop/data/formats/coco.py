"""COCO: one JSON file (``images``, ``annotations``, ``categories``) beside an ``images/`` folder.

Boxes are ``[x, y, width, height]`` in pixels. Category ids need not be contiguous:
they map to class ids in ascending id order.
"""

from __future__ import annotations

import json
from collections import defaultdict
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
from edgeloop.errors import DatasetError
from edgeloop.types import Detections

ANNOTATIONS = "annotations.json"


def _json_path(path: Path) -> Path | None:
    if (path / ANNOTATIONS).is_file():
        return path / ANNOTATIONS
    found = sorted(path.glob("*.json"))
    return found[0] if len(found) == 1 else None


def detect(path: Path) -> bool:
    """A folder with ``annotations.json`` (or exactly one ``.json`` file) and ``images/``."""
    return _json_path(path) is not None and (path / "images").is_dir()


def load(path: Path) -> Dataset:
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
        boxes: dict[int, list[tuple[list[float], int]]] = defaultdict(list)
        for ann in doc.get("annotations", []):
            boxes[int(ann["image_id"])].append(
                ([float(v) for v in ann["bbox"]], class_of[int(ann["category_id"])])
            )
        items = [_item(path, image, boxes[int(image["id"])], names) for image in doc["images"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"{json_path}: not a COCO detection file ({type(exc).__name__}: {exc}); "
            "it needs 'images', 'annotations' and 'categories' with ids, file_name, bbox"
        ) from exc
    return Dataset(names, tuple(items), "detect")


def _item(
    path: Path, image: dict[str, Any], boxes: list[tuple[list[float], int]], names: tuple[str, ...]
) -> Item:
    name = str(image["file_name"])
    file = path / "images" / name
    if not file.is_file():
        raise DatasetError(f"{file}: image not found; add it or remove it from the JSON")
    if not boxes:
        detections = Detections.empty(names)
    else:
        xywh = np.asarray([b for b, _ in boxes], np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        detections = labelled_boxes(xyxy, [c for _, c in boxes], names)
    return Item(file, name, (int(image["width"]), int(image["height"])), detections)


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
