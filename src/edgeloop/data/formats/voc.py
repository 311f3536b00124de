"""Pascal VOC: ``Annotations/*.xml`` (one per image) and ``JPEGImages/``.

Coordinates are read and written as given, in pixels, without VOC's historical
1-based offset, as most tools do. Class names are collected from the objects in
first-seen order unless a ``labels.txt`` (one name a line) fixes the order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

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
from edgeloop.data.issues import BAD_LABEL, MISSING_IMAGE, Issues, remember_boxes, report
from edgeloop.errors import DatasetError, MissingImage
from edgeloop.types import Detections

LABELS = "labels.txt"
MAX_XML_BYTES = 10 * 1024 * 1024


def detect(path: Path) -> bool:
    """A folder with ``Annotations/`` and ``JPEGImages/``."""
    return (path / "Annotations").is_dir() and (path / "JPEGImages").is_dir()


def _parse(xml_path: Path) -> ET.Element:
    data = xml_path.read_bytes()
    # ElementTree expands internal entities; refusing DTDs outright rules out entity bombs.
    if len(data) > MAX_XML_BYTES or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise DatasetError(
            f"{xml_path}: refused: VOC annotations must be under 10 MB and carry no DTD or entities; "
            "remove the <!DOCTYPE>/<!ENTITY> declarations"
        )
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise DatasetError(f"{xml_path}: not valid XML ({exc}); fix or remove the file") from exc


def _text(node: ET.Element, tag: str, xml_path: Path) -> str:
    text = node.findtext(tag)
    if text is None or not text.strip():
        raise DatasetError(f"{xml_path}: missing <{tag}>; every VOC annotation needs it")
    return text.strip()


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a VOC dataset; images are looked up under ``JPEGImages/`` by ``<filename>``."""
    if not (path / "Annotations").is_dir():
        raise DatasetError(f"{path}: no Annotations/ folder; a VOC dataset keeps one XML per image there")
    if not (path / "JPEGImages").is_dir():
        raise DatasetError(f"{path}: no JPEGImages/ folder; put the images named in the XML files there")
    names: list[str] = []
    if (path / LABELS).is_file():
        names = [n.strip() for n in (path / LABELS).read_text(encoding="utf-8").splitlines() if n.strip()]
    parsed = []
    for xml_path in sorted((path / "Annotations").rglob("*.xml")):
        where = xml_path.relative_to(path).as_posix()
        try:
            root = _parse(xml_path)
            objects = _objects(root, xml_path, where, issues)
        except DatasetError as exc:
            report(issues, BAD_LABEL, where, str(exc))
            continue
        for _, name, _ in objects:
            if name not in names:
                names.append(name)
        parsed.append((xml_path, root, objects))
    items = []
    for xml_path, root, objects in parsed:
        try:
            item = _item(path, xml_path, root, objects, tuple(names))
        except DatasetError as exc:
            kind = MISSING_IMAGE if isinstance(exc, MissingImage) else BAD_LABEL
            report(issues, kind, xml_path.relative_to(path).as_posix(), str(exc))
            continue
        remember_boxes(issues, item.name, [w for _, _, w in objects])
        items.append(item)
    return Dataset(tuple(names), tuple(items), "detect")


def _objects(
    root: ET.Element, xml_path: Path, where: str, issues: Issues | None
) -> list[tuple[list[float], str, str]]:
    """``(xyxy, class name, where)`` per object; a broken object is reported and skipped."""
    objects = []
    for number, obj in enumerate(root.iter("object"), 1):
        try:
            name = _text(obj, "name", xml_path)
            box = obj.find("bndbox")
            if box is None:
                raise DatasetError(f"{xml_path}: an <object> has no <bndbox>; add one or remove the object")
            try:
                coords = [float(_text(box, tag, xml_path)) for tag in ("xmin", "ymin", "xmax", "ymax")]
            except ValueError as exc:
                raise DatasetError(f"{xml_path}: a box coordinate is not a number ({exc})") from exc
        except DatasetError as exc:
            report(issues, BAD_LABEL, f"{where}: object {number}", str(exc))
            continue
        objects.append((coords, name, f"{where}: object {number}"))
    return objects


def _item(
    path: Path,
    xml_path: Path,
    root: ET.Element,
    objects: list[tuple[list[float], str, str]],
    names: tuple[str, ...],
) -> Item:
    name = _text(root, "filename", xml_path)
    file = path / "JPEGImages" / name
    if not file.is_file():
        raise MissingImage(f"{file}: image not found (named in {xml_path.name}); add it or remove the XML")
    size = root.find("size")
    if size is None:
        raise DatasetError(
            f"{xml_path}: missing <size>; add <size><width>..</width><height>..</height></size>"
        )
    try:
        size_wh = (int(_text(size, "width", xml_path)), int(_text(size, "height", xml_path)))
    except ValueError as exc:
        raise DatasetError(f"{xml_path}: <size> is not whole numbers ({exc})") from exc
    if not objects:
        return Item(file, name, size_wh, Detections.empty(names))
    xyxy = np.asarray([c for c, _, _ in objects], np.float64)
    class_id = [names.index(n) for _, n, _ in objects]
    return Item(file, name, size_wh, labelled_boxes(xyxy, class_id, names))


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` to a new folder: ``Annotations/``, ``JPEGImages/`` and ``labels.txt``."""
    require_task(ds, "detect", "voc")
    new_output_dir(path)
    (path / LABELS).write_text("".join(f"{n}\n" for n in ds.names), encoding="utf-8")
    for item in ds.items:
        copy_image(item, path / "JPEGImages" / item.name)
        xml_path = (path / "Annotations" / PurePosixPath(item.name)).with_suffix(".xml")
        xml_path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(_annotation(ds, item)).write(xml_path, encoding="utf-8", xml_declaration=True)


def _annotation(ds: Dataset, item: Item) -> ET.Element:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = item.name
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(item.size_wh[0])
    ET.SubElement(size, "height").text = str(item.size_wh[1])
    ET.SubElement(size, "depth").text = "3"
    if item.detections is not None:
        for coords, cls in zip(item.detections.xyxy.tolist(), item.detections.class_id.tolist(), strict=True):
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = ds.names[cls]
            ET.SubElement(obj, "difficult").text = "0"
            box = ET.SubElement(obj, "bndbox")
            for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True):
                ET.SubElement(box, tag).text = f"{value:.4f}"
    ET.indent(root)
    return root


FORMAT = DatasetFormat("voc", "detect", detect, load, save)
