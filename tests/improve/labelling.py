"""A spool made by the Capture API on synthetic frames, and a scripted labeller for each export format.

The labeller makes the same four corrections in every format's own files:
image 0 box 0 moves 10 px right, image 1 box 0 is deleted, image 2 gets a new
box, image 3 box 1 changes class. For Label Studio it also writes what Label
Studio's JSON export looks like after labelling (predictions become a
submitted annotation, percentages rounded to 2 decimals, prediction ids only)
and leaves the last task unlabelled.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.bundle import Bundle
from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.improve import Capture, ModelRef, Spool, policy_from_dict
from edgeloop.predictor import Predictor
from edgeloop.testing.capture_budget import FakeClock
from edgeloop.types import Detections

RED, GREEN, BLUE = (0, 0, 255), (0, 255, 0), (255, 0, 0)
# Squares on the colour detector's 32 px cells once a 640x480 frame is letterboxed (80 px pad).
FRAMES = [
    [(RED, (64, 48, 192, 176)), (GREEN, (352, 240, 480, 336))],
    [(BLUE, (448, 48, 576, 144)), (RED, (64, 240, 160, 400))],
    [(GREEN, (128, 112, 256, 208)), (BLUE, (384, 304, 512, 432))],
    [(RED, (256, 176, 352, 272)), (GREEN, (480, 48, 576, 144))],
    [(BLUE, (32, 16, 160, 112))],
]
NAMES = ("red", "green", "blue")
MOVE_PX = 10.0
ADDED = ([20.0, 30.0, 80.0, 100.0], "red")
START_TIME = 1.7e9


def frame(squares: list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]) -> np.ndarray:
    image = np.full((480, 640, 3), 128, np.uint8)
    for colour, (x1, y1, x2, y2) in squares:
        image[y1:y2, x1:x2] = colour
    return image


def make_spool(path: Path, bundle: Bundle) -> None:
    """Five frames kept by a random sampler, one minute apart, with the model's predictions."""
    policy = policy_from_dict({"samplers": [{"type": "random", "min_score": 0.0}], "seed": 0})
    clock = FakeClock()
    clock.now = START_TIME
    with (
        Predictor(bundle) as predictor,
        Capture(policy, Spool(path), "cam-1", ModelRef("colours", "3"), clock, clock) as capture,
    ):
        for squares in FRAMES:
            image = frame(squares)
            detections = predictor.predict(image)
            assert isinstance(detections, Detections) and len(detections) == len(squares)
            assert capture.offer(image, detections).kept
            clock.now += 60


def pre_annotations(spool: Path) -> Dataset:
    """What an export should hold: the stored wire-format predictions, box centres -> xyxy."""
    items = []
    with Spool(spool) as store:
        for s in store.samples():
            preds = s.record.predictions["predictions"]
            xyxy = [
                [
                    p["x"] - p["width"] / 2,
                    p["y"] - p["height"] / 2,
                    p["x"] + p["width"] / 2,
                    p["y"] + p["height"] / 2,
                ]
                for p in preds
            ]
            boxes = labelled_boxes(xyxy, [NAMES.index(p["class"]) for p in preds], NAMES)
            name = f"{s.seq:08d}-{s.sha256[:12]}.jpg"
            items.append(Item(store.path(s.sha256), name, (s.record.width, s.record.height), boxes))
    return Dataset(NAMES, tuple(items))


def expected(pre: Dataset, unlabelled_last: bool = False) -> Dataset:
    """The pre-annotations after the four corrections."""
    items = list(pre.items)
    edited = []
    for i, item in enumerate(items):
        d = item.detections
        assert d is not None
        xyxy, cls = d.xyxy.astype(np.float64).tolist(), d.class_id.tolist()
        if i == 0:
            xyxy[0] = [xyxy[0][0] + MOVE_PX, xyxy[0][1], xyxy[0][2] + MOVE_PX, xyxy[0][3]]
        elif i == 1:
            del xyxy[0], cls[0]
        elif i == 2:
            xyxy.append(ADDED[0])
            cls.append(NAMES.index(ADDED[1]))
        elif i == 3:
            cls[1] = NAMES.index("blue")
        edited.append(replace(item, detections=labelled_boxes(xyxy, cls, NAMES)))
    if unlabelled_last:
        edited = edited[:-1]
    return Dataset(NAMES, tuple(edited))


def _edit_rows(rows: list[Any], i: int, move: Any, add: Any, reclass: Any) -> list[Any]:
    """Apply the edit for image ``i`` to its box rows (any representation)."""
    rows = list(rows)
    if i == 0:
        rows[0] = move(rows[0])
    elif i == 1:
        del rows[0]
    elif i == 2:
        rows.append(add())
    elif i == 3:
        rows[1] = reclass(rows[1])
    return rows


def edit_yolo(folder: Path, pre: Dataset) -> None:
    for i, item in enumerate(pre.items):
        label = folder / "labels" / Path(item.name).with_suffix(".txt")
        w, h = item.size_wh
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()]
        (x1, y1, x2, y2), cls = ADDED[0], NAMES.index(ADDED[1])
        new = [
            str(cls),
            *(f"{v:.8f}" for v in ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)),
        ]
        rows = _edit_rows(
            rows,
            i,
            lambda r, w=w: [r[0], f"{float(r[1]) + MOVE_PX / w:.8f}", *r[2:]],
            lambda new=new: new,
            lambda r: [str(NAMES.index("blue")), *r[1:]],
        )
        label.write_text("".join(" ".join(r) + "\n" for r in rows))


def edit_coco(folder: Path, pre: Dataset) -> None:
    path = folder / "annotations.json"
    doc = json.loads(path.read_text())
    category = {c["name"]: c["id"] for c in doc["categories"]}
    image_id = {im["file_name"]: im["id"] for im in doc["images"]}
    annotations = []
    for i, item in enumerate(pre.items):
        rows = [a for a in doc["annotations"] if a["image_id"] == image_id[item.name]]
        (x1, y1, x2, y2), cls = ADDED[0], ADDED[1]
        added = {
            "image_id": image_id[item.name],
            "category_id": category[cls],
            "bbox": [x1, y1, x2 - x1, y2 - y1],
        }
        annotations += _edit_rows(
            rows,
            i,
            lambda a: {**a, "bbox": [a["bbox"][0] + MOVE_PX, *a["bbox"][1:]]},
            lambda added=added: added,
            lambda a: {**a, "category_id": category["blue"]},
        )
    for n, a in enumerate(annotations, 1):
        a.update(id=n, area=a["bbox"][2] * a["bbox"][3], iscrowd=0)
    doc["annotations"] = annotations
    path.write_text(json.dumps(doc))


def _edit_xml_boxes(
    parent: ET.Element, boxes: list[ET.Element], i: int, make: Any, move: Any, reclass: Any
) -> None:
    for box in boxes:
        parent.remove(box)
    for box in _edit_rows(boxes, i, move, make, reclass):
        parent.append(box)


def edit_voc(folder: Path, pre: Dataset) -> None:
    def move(obj: ET.Element) -> ET.Element:
        for tag in ("xmin", "xmax"):
            node = obj.find(f"bndbox/{tag}")
            assert node is not None and node.text is not None
            node.text = str(float(node.text) + MOVE_PX)
        return obj

    def reclass(obj: ET.Element) -> ET.Element:
        node = obj.find("name")
        assert node is not None
        node.text = "blue"
        return obj

    def make() -> ET.Element:
        obj = ET.Element("object")
        ET.SubElement(obj, "name").text = ADDED[1]
        box = ET.SubElement(obj, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), ADDED[0], strict=True):
            ET.SubElement(box, tag).text = str(v)
        return obj

    for i, item in enumerate(pre.items):
        path = folder / "Annotations" / Path(item.name).with_suffix(".xml")
        tree = ET.parse(path)
        root = tree.getroot()
        _edit_xml_boxes(root, root.findall("object"), i, make, move, reclass)
        tree.write(path)


def edit_cvat(folder: Path, pre: Dataset) -> None:
    path = folder / "annotations.xml"
    tree = ET.parse(path)
    images = {im.get("name"): im for im in tree.getroot().iter("image")}

    def move(box: ET.Element) -> ET.Element:
        for key in ("xtl", "xbr"):
            box.set(key, f"{float(box.get(key, 'nan')) + MOVE_PX:.2f}")
        return box

    def reclass(box: ET.Element) -> ET.Element:
        box.set("label", "blue")
        return box

    def make() -> ET.Element:
        (x1, y1, x2, y2), label = ADDED
        attrs = {"label": label, "source": "manual", "occluded": "0", "z_order": "0"}
        return ET.Element(
            "box", {**attrs, "xtl": f"{x1:.2f}", "ytl": f"{y1:.2f}", "xbr": f"{x2:.2f}", "ybr": f"{y2:.2f}"}
        )

    for i, item in enumerate(pre.items):
        image = images[item.name]
        _edit_xml_boxes(image, image.findall("box"), i, make, move, reclass)
        for box in image.findall("box"):
            box.set("source", "manual")  # what CVAT writes once a person has touched the task
    tree.write(path, encoding="utf-8", xml_declaration=True)


def labelstudio_export(tasks_json: Path, pre: Dataset, out: Path) -> Path:
    """What Label Studio's Export > JSON gives after a labeller corrected the pre-annotations."""
    tasks = json.loads(tasks_json.read_text())
    exported = []
    for i, (task, item) in enumerate(zip(tasks, pre.items, strict=True)):
        w, h = item.size_wh
        results = task["predictions"][0]["result"]
        for r in results:
            r["value"] = {k: round(v, 2) if isinstance(v, float) else v for k, v in r["value"].items()}
            r["origin"] = "prediction"
        (x1, y1, x2, y2), label = ADDED
        added = {
            "id": "new1",
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": w,
            "original_height": h,
            "image_rotation": 0,
            "origin": "manual",
            "value": {
                "x": round(x1 / w * 100, 2),
                "y": round(y1 / h * 100, 2),
                "width": round((x2 - x1) / w * 100, 2),
                "height": round((y2 - y1) / h * 100, 2),
                "rotation": 0,
                "rectanglelabels": [label],
            },
        }

        def move(r: dict[str, Any], w: int = w) -> dict[str, Any]:
            return {**r, "value": {**r["value"], "x": round(r["value"]["x"] + MOVE_PX / w * 100, 2)}}

        def reclass(r: dict[str, Any]) -> dict[str, Any]:
            return {**r, "value": {**r["value"], "rectanglelabels": ["blue"]}}

        results = _edit_rows(results, i, move, lambda added=added: added, reclass)
        annotations = (
            []
            if i == len(pre.items) - 1
            else [
                {
                    "id": 100 + i,
                    "completed_by": 1,
                    "result": [],
                    "was_cancelled": True,
                    "ground_truth": False,
                    "created_at": "2026-05-01T10:00:00.000000Z",
                    "updated_at": "2026-05-01T10:00:00.000000Z",
                    "task": i + 1,
                },
                {
                    "id": 200 + i,
                    "completed_by": 1,
                    "result": results,
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2026-05-01T10:05:00.000000Z",
                    "updated_at": "2026-05-01T10:06:00.000000Z",
                    "lead_time": 12.5,
                    "prediction": {},
                    "result_count": 0,
                    "task": i + 1,
                    "project": 1,
                },
            ]
        )
        exported.append(
            {
                "id": i + 1,
                "annotations": annotations,
                "file_upload": None,
                "drafts": [],
                "predictions": [i + 1],
                "data": task["data"],
                "meta": {},
                "created_at": "2026-05-01T09:00:00.000000Z",
                "updated_at": "2026-05-01T10:06:00.000000Z",
                "inner_id": i + 1,
                "total_annotations": len(annotations),
                "cancelled_annotations": 1 if annotations else 0,
                "total_predictions": 1,
                "project": 1,
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(exported, indent=1))
    return out


EDITORS = {"yolo": edit_yolo, "coco": edit_coco, "voc": edit_voc, "cvat": edit_cvat}
