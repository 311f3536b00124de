"""CVAT for images 1.1: ``annotations.xml`` beside ``images/``, as CVAT exports a task.

``<annotations>`` holds ``<version>1.1</version>``, ``<meta>`` (the task and its
labels) and one ``<image id name width height>`` per image with ``<box label
xtl ytl xbr ybr occluded source z_order>`` children, in pixels. Boxes written
from a model's predictions carry ``source="auto"``. Reading takes every box
(rotated ones as the upright box around them); polygons, points and tags are
left out and noted. Format: https://docs.cvat.ai/docs/other/xml_format/
"""

from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from edgeloop.data.dataset import (
    Dataset,
    DatasetFormat,
    Item,
    image_size,
    labelled_boxes,
    new_output_dir,
    require_task,
)
from edgeloop.data.formats.locate import ImageFinder, order_names, parse_xml
from edgeloop.data.issues import BAD_LABEL, MISSING_IMAGE, UNKNOWN_CLASS, Issues, note, report
from edgeloop.errors import DatasetError
from edgeloop.types import Detections

ANNOTATIONS = "annotations.xml"
OTHER_SHAPES = ("polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")
PALETTE = ("#fa3253", "#3d3df5", "#33ddff", "#fafa37", "#ff6a4d", "#83e070", "#b83df5", "#ff007c")


def detect(path: Path) -> bool:
    """A folder with ``annotations.xml`` whose root element is ``<annotations>``."""
    xml_path = path / ANNOTATIONS
    if not xml_path.is_file():
        return False
    try:
        with xml_path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"<annotations" in head


def _meta(ds: Dataset, name: str) -> ET.Element:
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    now = datetime.now(timezone.utc).isoformat()
    fields = {
        "id": "0",
        "name": name,
        "size": str(len(ds.items)),
        "mode": "annotation",
        "overlap": "0",
        "bugtracker": "",
        "created": now,
        "updated": now,
        "subset": "default",
        "start_frame": "0",
        "stop_frame": str(max(len(ds.items) - 1, 0)),
        "frame_filter": "",
    }
    for tag, text in fields.items():
        ET.SubElement(task, tag).text = text
    labels = ET.SubElement(task, "labels")
    for i, class_name in enumerate(ds.names):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = class_name
        ET.SubElement(label, "color").text = PALETTE[i % len(PALETTE)]
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    ET.SubElement(meta, "dumped").text = now
    return meta


def document(ds: Dataset, name: str, source: str = "manual") -> ET.Element:
    """The ``<annotations>`` element for ``ds``; boxes carry ``source`` (``manual`` or ``auto``)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    root.append(_meta(ds, name))
    for image_id, item in enumerate(ds.items):
        width, height = item.size_wh
        attrs = {"id": str(image_id), "name": item.name, "width": str(width), "height": str(height)}
        image = ET.SubElement(root, "image", attrs)
        if item.detections is None:
            continue
        for (x1, y1, x2, y2), cls in zip(
            item.detections.xyxy.tolist(), item.detections.class_id.tolist(), strict=True
        ):
            box = {
                "label": ds.names[cls],
                "source": source,
                "occluded": "0",
                "xtl": f"{x1:.4f}",
                "ytl": f"{y1:.4f}",
                "xbr": f"{x2:.4f}",
                "ybr": f"{y2:.4f}",
                "z_order": "0",
            }
            ET.SubElement(image, "box", box)
    ET.indent(root)
    return root


def write(ds: Dataset, path: Path, source: str = "manual") -> None:
    """Write ``annotations.xml`` and ``images/`` to the new folder ``path``."""
    require_task(ds, "detect", "cvat")
    new_output_dir(path)
    for item in ds.items:
        target = path / "images" / item.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.image, target)
    tree = ET.ElementTree(document(ds, path.resolve().name, source))
    tree.write(path / ANNOTATIONS, encoding="utf-8", xml_declaration=True)


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a CVAT for images 1.1 task export (labels as ``source="manual"`` boxes)."""
    write(ds, path, "manual")


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a CVAT for images 1.1 export folder (``annotations.xml`` and ``images/``)."""
    if not (path / ANNOTATIONS).is_file():
        raise DatasetError(f"{path}: no {ANNOTATIONS}; export the task as 'CVAT for images 1.1'")
    return read(path / ANNOTATIONS, issues=issues)


def read(
    xml_path: Path,
    images: Path | None = None,
    names: tuple[str, ...] | None = None,
    issues: Issues | None = None,
) -> Dataset:
    """Read a CVAT for images 1.1 XML file.

    Args:
        images: folder to look the images up in (also searched: the XML's folder and its ``images/``).
        names: class names in order (default: the labels in ``<meta>``, else those found, sorted).
    """
    root = parse_xml(xml_path, "CVAT annotations")
    if root.tag != "annotations" or root.find("meta") is None:
        raise DatasetError(
            f"{xml_path}: not a CVAT for images 1.1 file (no <annotations> with <meta>); "
            "export the task as 'CVAT for images 1.1'"
        )
    if root.find("track") is not None:
        raise DatasetError(f"{xml_path}: a 'CVAT for video' export; export as 'CVAT for images 1.1' instead")
    meta = root.find("meta")
    assert meta is not None
    declared = [str(label.findtext("name")) for label in meta.iter("label") if label.findtext("name")]
    seen = [str(box.get("label")) for box in root.iter("box")]
    ordered = order_names(names, declared, seen)
    folder = xml_path.parent
    finder = ImageFinder([p for p in (images, folder / "images", folder) if p is not None])
    items: list[Item] = []
    taken: set[str] = set()
    for image in root.iter("image"):
        item = _item(xml_path, image, ordered, finder, issues)
        if item is not None and item.name in taken:
            report(issues, BAD_LABEL, item.name, f"{xml_path}: image {item.name} is listed twice")
        elif item is not None:
            taken.add(item.name)
            items.append(item)
    return Dataset(ordered, tuple(items), "detect")


def _item(
    xml_path: Path, image: ET.Element, names: tuple[str, ...], finder: ImageFinder, issues: Issues | None
) -> Item | None:
    reference = image.get("name") or ""
    where = f"image {reference or image.get('id')}"
    found = finder.find(reference)
    if found is None:
        message = (
            f"{xml_path}: {where} not found under {finder.describe()}; "
            "pass --images with the folder that holds the task's images"
        )
        report(issues, MISSING_IMAGE, where, message)
        return None
    file, name = found
    try:
        size_wh = image_size(file)
    except DatasetError as exc:
        report(issues, MISSING_IMAGE, where, str(exc))
        return None
    skipped = [child.tag for child in image if child.tag in OTHER_SHAPES]
    if skipped:
        note(issues, BAD_LABEL, where, f"{xml_path}: {where}: {len(skipped)} non-box shapes left out")
    xyxy, classes = [], []
    for box in image.iter("box"):
        label = box.get("label", "")
        try:
            coords = [float(box.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
            rotation = float(box.get("rotation") or 0.0)
        except (KeyError, ValueError) as exc:
            report(issues, BAD_LABEL, where, f"{xml_path}: {where}: a box without xtl/ytl/xbr/ybr ({exc})")
            continue
        if label not in names:
            message = (
                f"{xml_path}: {where}: label '{label}' is not one of {', '.join(names)}; add it to --names"
            )
            report(issues, UNKNOWN_CLASS, where, message)
            continue
        xyxy.append(_unrotate(coords, rotation))
        classes.append(names.index(label))
    detections = labelled_boxes(xyxy, classes, names) if classes else Detections.empty(names)
    return Item(file, name, size_wh, detections)


def _unrotate(xyxy: list[float], degrees: float) -> list[float]:
    """The upright box around a box CVAT rotated by ``degrees`` (clockwise) about its centre."""
    if degrees % 360 == 0:
        return xyxy
    x1, y1, x2, y2 = xyxy
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    c, s = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    ex, ey = hw * c + hh * s, hw * s + hh * c
    return [cx - ex, cy - ey, cx + ex, cy + ey]


FORMAT = DatasetFormat("cvat", "detect", detect, load, save)
