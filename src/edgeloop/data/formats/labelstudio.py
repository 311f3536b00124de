"""Label Studio: a JSON list of tasks (``tasks.json``), ``images/`` and ``label_config.xml``.

Writing makes import tasks for an image project with a ``RectangleLabels``
control named ``label`` on an ``Image`` named ``image``: ``data.image`` is a
local-files URL (``/data/local-files/?d=<path under the document root>``) or a
URL prefix plus the image name, and boxes are ``rectanglelabels`` results in
percent of the image size. ``save`` writes labels as ``annotations``; the spool
export writes the model's boxes as ``predictions`` (with ``model_version`` and
``score``) so they show as pre-annotations. Formats documented at
https://labelstud.io/guide/tasks (import) and https://labelstud.io/guide/export (JSON).

Reading takes a Label Studio JSON export: per task the annotation a labeller
submitted (ground truth first, then the most recent; cancelled ones are
skipped), ``predictions`` only when asked; tasks without either are not
labelled yet and are left out (counted in ``Issues`` as ``unlabelled``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from xml.etree import ElementTree as ET

from edgeloop.data.dataset import (
    Dataset,
    DatasetFormat,
    Item,
    image_size,
    labelled_boxes,
    new_output_dir,
    require_task,
)
from edgeloop.data.formats.locate import ImageFinder, first_char, order_names, parse_xml
from edgeloop.data.issues import BAD_LABEL, MISSING_IMAGE, UNKNOWN_CLASS, Issues, note, report
from edgeloop.errors import DatasetError
from edgeloop.types import Detections

TASKS = "tasks.json"
CONFIG = "label_config.xml"
UNLABELLED = "unlabelled"
FROM_NAME, TO_NAME = "label", "image"
Kind = Literal["annotations", "predictions"]


@dataclass(frozen=True)
class TaskInfo:
    """What a task carries besides its image and boxes.

    Attributes:
        data: extra ``data`` fields (shown as columns in Label Studio's data manager).
        model_version: names the model that made the predictions.
        score: the prediction's score (Label Studio sorts and filters tasks by it).
    """

    data: Mapping[str, Any] = field(default_factory=dict)
    model_version: str = ""
    score: float | None = None


def local_files_url(path_under_root: str) -> str:
    """A Label Studio local-files URL for a path relative to its document root."""
    return "/data/local-files/?d=" + quote(path_under_root, safe="/")


def _tasks_path(path: Path) -> Path | None:
    if path.is_file():
        return path
    if (path / TASKS).is_file():
        return path / TASKS
    found = sorted(path.glob("*.json"))
    return found[0] if len(found) == 1 else None


def detect(path: Path) -> bool:
    """A folder with ``tasks.json`` (or exactly one ``.json`` file) holding a JSON list."""
    json_path = _tasks_path(path) if path.is_dir() else None
    return json_path is not None and first_char(json_path) == "["


def _result(item: Item, index: int, box: list[float], label: str, score: float | None) -> dict[str, Any]:
    width, height = item.size_wh
    x1, y1, x2, y2 = box
    result: dict[str, Any] = {
        "id": f"b{index}",
        "type": "rectanglelabels",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": x1 / width * 100,
            "y": y1 / height * 100,
            "width": (x2 - x1) / width * 100,
            "height": (y2 - y1) / height * 100,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }
    if score is not None:
        result["score"] = round(score, 4)
    return result


def task(ds: Dataset, item: Item, url: str, kind: Kind, info: TaskInfo | None = None) -> dict[str, Any]:
    """One import task for ``item``; its boxes become ``annotations`` or ``predictions``."""
    info = info or TaskInfo()
    results = []
    if item.detections is not None:
        d = item.detections
        for i, (box, cls, conf) in enumerate(
            zip(d.xyxy.tolist(), d.class_id.tolist(), d.confidence.tolist(), strict=True)
        ):
            results.append(_result(item, i, box, ds.names[cls], conf if kind == "predictions" else None))
    out: dict[str, Any] = {"data": {TO_NAME: url, **info.data}}
    if kind == "annotations":
        out["annotations"] = [{"result": results, "ground_truth": False, "was_cancelled": False}]
    else:
        prediction: dict[str, Any] = {"model_version": info.model_version or "edgeloop", "result": results}
        if info.score is not None:
            prediction["score"] = round(info.score, 4)
        out["predictions"] = [prediction]
    return out


def label_config(names: tuple[str, ...]) -> str:
    """The labelling interface for these classes (paste it under Settings > Labeling Interface > Code)."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=TO_NAME, value=f"${TO_NAME}", zoom="true")
    control = ET.SubElement(view, "RectangleLabels", name=FROM_NAME, toName=TO_NAME)
    for name in names:
        ET.SubElement(control, "Label", value=name)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def write(
    ds: Dataset,
    path: Path,
    kind: Kind,
    url_of: Callable[[Item], str] | None = None,
    infos: Mapping[str, TaskInfo] | None = None,
) -> None:
    """Write ``tasks.json``, ``label_config.xml`` and ``images/`` to the new folder ``path``.

    Args:
        url_of: the task's image URL per item; default a local-files URL whose
            document root is ``path``'s parent folder.
        infos: per item name, extra task fields.
    """
    require_task(ds, "detect", "labelstudio")
    new_output_dir(path)
    folder = path.resolve().name
    default = lambda item: local_files_url(f"{folder}/images/{item.name}")  # noqa: E731
    url = url_of or default
    tasks = []
    for item in ds.items:
        target = path / "images" / item.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.image, target)
        tasks.append(task(ds, item, url(item), kind, (infos or {}).get(item.name)))
    (path / TASKS).write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    (path / CONFIG).write_text(label_config(ds.names), encoding="utf-8")


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as Label Studio import tasks with its labels as annotations."""
    write(ds, path, "annotations")


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a folder holding a Label Studio JSON export (or ``tasks.json``) and its ``images/``."""
    json_path = _tasks_path(path)
    if json_path is None:
        raise DatasetError(f"{path}: no {TASKS}; put the Label Studio JSON export there")
    return read(json_path, issues=issues)


def read(
    json_path: Path,
    images: Path | None = None,
    names: tuple[str, ...] | None = None,
    predictions: bool = False,
    issues: Issues | None = None,
) -> Dataset:
    """Read a Label Studio JSON export.

    Args:
        images: folder to look the images up in (also searched: the JSON's folder
            and its ``images/``).
        names: class names in order (default: ``label_config.xml`` beside the JSON,
            else the labels found, sorted).
        predictions: use a task's predictions when it has no annotation.
    """
    try:
        tasks: Any = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{json_path}: not a readable JSON file ({exc}); export it again") from None
    if not isinstance(tasks, list):
        raise DatasetError(
            f"{json_path}: not a Label Studio JSON export (expected a list of tasks); "
            "export with Export > JSON, not JSON-MIN or COCO"
        )
    folder = json_path.parent
    roots = [p for p in (images, folder / "images", folder) if p is not None]
    finder = ImageFinder(roots)
    parsed = [_parse_task(json_path, i, t, predictions, issues) for i, t in enumerate(tasks)]
    config = folder / CONFIG
    declared = _config_names(config) if config.is_file() else []
    seen = [label for p in parsed if p is not None for _, _, label in p[1]]
    ordered = order_names(names, declared, seen)
    items: list[Item] = []
    taken: set[str] = set()
    for entry in parsed:
        if entry is None:
            continue
        item = _item(json_path, entry, ordered, finder, issues)
        if item is not None and item.name in taken:
            report(issues, BAD_LABEL, item.name, f"{json_path}: image {item.name} appears in two tasks")
        elif item is not None:
            taken.add(item.name)
            items.append(item)
    return Dataset(ordered, tuple(items), "detect")


# image reference, [(xywh in percent, rotation in degrees, label)], where in the file
Parsed = tuple[str, list[tuple[list[float], float, str]], str]


def _parse_task(
    json_path: Path, index: int, t: Any, predictions: bool, issues: Issues | None
) -> Parsed | None:
    where = f"task {t.get('id', f'#{index + 1}') if isinstance(t, dict) else f'#{index + 1}'}"
    data = t.get("data") if isinstance(t, dict) else None
    if not isinstance(data, dict):
        report(
            issues, BAD_LABEL, where, f"{json_path}: {where} has no 'data'; is this a Label Studio export?"
        )
        return None
    chosen = _annotation(t.get("annotations"))
    if chosen is None and predictions:
        chosen = _annotation(t.get("predictions"))
    if chosen is None:
        note(issues, UNLABELLED, where, f"{json_path}: {where} is not labelled yet; left out")
        return None
    results = chosen.get("result") or []
    to_name = next((r.get("to_name") for r in results if isinstance(r, dict) and r.get("to_name")), None)
    reference = data.get(to_name) if isinstance(to_name, str) else None
    if not isinstance(reference, str):
        reference = data.get(TO_NAME) or next((v for v in data.values() if isinstance(v, str)), None)
    if not isinstance(reference, str):
        report(issues, BAD_LABEL, where, f"{json_path}: {where} names no image in 'data'")
        return None
    return reference, _boxes(json_path, where, results, issues), where


def _annotation(entries: Any) -> dict[str, Any] | None:
    """The annotation to use: ground truth first, then the most recently updated; never a cancelled one."""
    usable = [a for a in entries or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not usable:
        return None

    def rank(a: dict[str, Any]) -> tuple[bool, str, int]:
        stamp = str(a.get("updated_at") or a.get("created_at") or "")
        number = a.get("id")
        return bool(a.get("ground_truth")), stamp, number if isinstance(number, int) else 0

    return max(usable, key=rank)


def _boxes(
    json_path: Path, where: str, results: list[Any], issues: Issues | None
) -> list[tuple[list[float], float, str]]:
    labels_by_id = {
        r.get("id"): r["value"]["labels"]
        for r in results
        if isinstance(r, dict) and isinstance(r.get("value"), dict) and r["value"].get("labels")
    }
    boxes = []
    for r in results:
        if not isinstance(r, dict) or r.get("type") not in ("rectanglelabels", "rectangle"):
            continue
        value = r.get("value") or {}
        labels: Any = value.get("rectanglelabels") or labels_by_id.get(r.get("id"))
        try:
            xywh = [float(value[k]) for k in ("x", "y", "width", "height")]
            label = str(labels[0])
            rotation = float(value.get("rotation") or 0.0)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            message = f"{json_path}: {where}: a rectangle without x, y, width, height and a label ({exc})"
            report(issues, BAD_LABEL, where, message)
            continue
        boxes.append((xywh, rotation, label))
    return boxes


def _pixels(xywh_percent: list[float], degrees: float, size_wh: tuple[int, int]) -> list[float]:
    """Pixel xyxy of a rectangle; one rotated by ``degrees`` (clockwise, about its top-left
    corner, as Label Studio rotates) becomes the upright box around it."""
    width, height = size_wh
    x, y, w, h = (v / 100 * s for v, s in zip(xywh_percent, (width, height, width, height), strict=True))
    if degrees % 360 == 0:
        return [x, y, x + w, y + h]
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    xs = [x + dx * c - dy * s for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [y + dx * s + dy * c for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return [min(xs), min(ys), max(xs), max(ys)]


def _item(
    json_path: Path, entry: Parsed, names: tuple[str, ...], finder: ImageFinder, issues: Issues | None
) -> Item | None:
    reference, boxes, where = entry
    found = finder.find(reference)
    if found is None:
        message = (
            f"{json_path}: {where}: image {reference} not found under {finder.describe()}; "
            "pass --images with the folder that holds the images"
        )
        report(issues, MISSING_IMAGE, where, message)
        return None
    file, name = found
    try:
        width, height = image_size(file)
    except DatasetError as exc:
        report(issues, MISSING_IMAGE, where, str(exc))
        return None
    xyxy, classes = [], []
    for xywh, rotation, label in boxes:
        if label not in names:
            message = (
                f"{json_path}: {where}: label '{label}' is not one of {', '.join(names)}; add it to --names"
            )
            report(issues, UNKNOWN_CLASS, where, message)
            continue
        xyxy.append(_pixels(xywh, rotation, (width, height)))
        classes.append(names.index(label))
    detections = labelled_boxes(xyxy, classes, names) if classes else Detections.empty(names)
    return Item(file, name, (width, height), detections)


def _config_names(config: Path) -> list[str]:
    root = parse_xml(config, "Label Studio labeling config")
    return [
        str(label.get("value"))
        for control in root.iter()
        if control.tag in ("RectangleLabels", "Labels")
        for label in control.iter("Label")
        if label.get("value")
    ]


FORMAT = DatasetFormat("labelstudio", "detect", detect, load, save)
