"""Label Studio and CVAT files: what the tools write, and ours checked against the documented formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.data.formats import cvat, labelstudio, load_dataset, save_dataset
from edgeloop.data.formats.locate import ImageFinder, url_path
from edgeloop.data.issues import Issues
from edgeloop.data.labelled import import_labels
from edgeloop.errors import DatasetError

SCHEMAS = Path(__file__).parent / "schemas"
NAMES = ("cat", "dog")


def _image(path: Path, size_wh: tuple[int, int] = (200, 100)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size_wh[1], size_wh[0], 3), 90, np.uint8))
    return path


def _dataset(tmp_path: Path) -> Dataset:
    items = (
        Item(
            _image(tmp_path / "raw/a.png"),
            "a.png",
            (200, 100),
            labelled_boxes([[10, 20, 50, 60]], [1], NAMES),
        ),
        Item(_image(tmp_path / "raw/sub/b.png"), "sub/b.png", (200, 100), labelled_boxes([], [], NAMES)),
    )
    return Dataset(NAMES, items)


def _rect(x: float, y: float, w: float, h: float, label: str, **extra: Any) -> dict[str, Any]:
    value = {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label], **extra}
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "value": value}


def test_url_forms_label_studio_uses() -> None:
    assert url_path("/data/local-files/?d=exports/day%201/images/a.jpg") == "exports/day 1/images/a.jpg"
    assert url_path("http://localhost:8080/data/local-files/?d=x/a.jpg") == "x/a.jpg"
    assert url_path("/data/upload/3/1a2b3c4d-a.jpg") == "1a2b3c4d-a.jpg"
    assert url_path("s3://bucket/cam/a.jpg") == "cam/a.jpg"
    assert url_path("https://files.example/img/a.jpg?token=1") == "img/a.jpg"
    assert url_path("images/a.jpg") == "images/a.jpg"


def test_image_finder_matches_tails_and_stays_inside(tmp_path: Path) -> None:
    _image(tmp_path / "root/images/a.png")
    _image(tmp_path / "root/sub/c.png")
    finder = ImageFinder([tmp_path / "root/images", tmp_path / "root"])
    assert finder.find("/data/local-files/?d=elsewhere/images/a.png") == (
        tmp_path / "root/images/a.png",
        "a.png",
    )
    assert finder.find("/data/upload/7/0badc0de-a.png") == (tmp_path / "root/images/a.png", "a.png")
    assert finder.find("sub/c.png") == (tmp_path / "root/sub/c.png", "sub/c.png")
    assert finder.find("../root/images/a.png") is None
    assert finder.find("/etc/passwd") is None


def test_label_studio_export_choices(tmp_path: Path) -> None:
    _image(tmp_path / "imgs/a.png")
    _image(tmp_path / "imgs/b.png")
    _image(tmp_path / "imgs/c.png")
    _image(tmp_path / "imgs/d.png")
    gt = {
        "result": [_rect(10, 20, 30, 40, "dog")],
        "ground_truth": True,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    newer = {"result": [_rect(0, 0, 10, 10, "cat")], "updated_at": "2026-02-01T00:00:00Z"}
    rect_and_labels = [
        {
            "id": "r1",
            "type": "rectangle",
            "to_name": "image",
            "value": {"x": 50, "y": 50, "width": 10, "height": 10},
        },
        {"id": "r1", "type": "labels", "to_name": "image", "value": {"labels": ["cat"]}},
    ]
    tasks = [
        {"id": 1, "data": {"image": "/data/local-files/?d=imgs/a.png"}, "annotations": [newer, gt]},
        {
            "id": 2,
            "data": {"image": "/data/upload/1/12345678-b.png"},
            "annotations": [{"result": rect_and_labels}],
        },
        {
            "id": 3,
            "data": {"image": "/data/upload/1/c.png"},
            "annotations": [{"result": [], "was_cancelled": True}],
            "predictions": [{"model_version": "m", "result": [_rect(1, 1, 2, 2, "dog")]}],
        },
        {
            "id": 4,
            "data": {"image": "http://host/d.png"},
            "annotations": [{"result": [_rect(0, 0, 50, 50, "dog", rotation=90)]}],
        },
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    issues = Issues()
    ds = labelstudio.read(path, tmp_path / "imgs", NAMES, issues=issues)
    assert [i.name for i in ds.items] == ["a.png", "b.png", "d.png"]
    assert [i.kind for i in issues.found] == ["unlabelled"]
    a, b, d = (i.detections for i in ds.items)
    assert a is not None and b is not None and d is not None
    np.testing.assert_allclose(a.xyxy, [[20, 20, 80, 60]])  # ground truth wins; percent of 200x100
    assert a.class_id.tolist() == [1] and b.class_id.tolist() == [0]
    np.testing.assert_allclose(b.xyxy, [[100, 50, 120, 60]])
    # rotated 90 degrees clockwise about the top-left corner: the box swings left of it
    np.testing.assert_allclose(d.xyxy, [[-50, 0, 0, 100]], atol=1e-6)
    with_predictions = labelstudio.read(path, tmp_path / "imgs", NAMES, predictions=True)
    assert [i.name for i in with_predictions.items] == ["a.png", "b.png", "c.png", "d.png"]


def test_label_studio_problems_are_specific(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps([{"id": 1, "data": {"image": "/data/upload/1/x.png"}, "annotations": [{"result": []}]}])
    )
    with pytest.raises(DatasetError, match=r"image /data/upload/1/x.png not found under .*pass --images"):
        labelstudio.read(path)
    _image(tmp_path / "x.png")
    path.write_text(
        json.dumps(
            [{"id": 1, "data": {"image": "x.png"}, "annotations": [{"result": [_rect(0, 0, 1, 1, "cow")]}]}]
        )
    )
    with pytest.raises(DatasetError, match="label 'cow' is not one of cat, dog; add it to --names"):
        labelstudio.read(path, names=NAMES)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match="expected a list of tasks"):
        labelstudio.read(path)
    with pytest.raises(
        DatasetError, match="no labelled image to import: 0 tasks not labelled yet, 1 problems"
    ):
        path.write_text(
            json.dumps([{"id": 1, "data": {"image": "missing.png"}, "annotations": [{"result": []}]}])
        )
        import_labels(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cvat_reads_what_cvat_writes(tmp_path: Path) -> None:
    _image(tmp_path / "task/images/a.png")
    (tmp_path / "task/annotations.xml").write_text(
        """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
  <meta><project><id>3</id><name>p</name><labels>
    <label><name>dog</name><color>#fff</color><type>any</type><attributes/></label>
    <label><name>cat</name><color>#000</color><type>any</type><attributes/></label>
  </labels></project><dumped>2026-01-01</dumped></meta>
  <image id="0" name="a.png" width="200" height="100" subset="default" task_id="1">
    <box label="cat" source="manual" occluded="1" xtl="10.00" ytl="20.00" xbr="50.00" ybr="60.00" z_order="0">
      <attribute name="pose">sitting</attribute></box>
    <box label="dog" source="auto" occluded="0" xtl="100" ytl="40" xbr="140" ybr="60" rotation="90.0"
      z_order="1"/>
    <polygon label="dog" source="manual" occluded="0" points="1,1;5,5;1,5" z_order="0"/>
  </image>
</annotations>"""
    )
    issues = Issues()
    ds = cvat.read(tmp_path / "task/annotations.xml", issues=issues)
    assert ds.names == ("dog", "cat") and [i.kind for i in issues.found] == ["bad_label"]
    d = ds.items[0].detections
    assert d is not None and d.class_id.tolist() == [1, 0]
    np.testing.assert_allclose(d.xyxy, [[10, 20, 50, 60], [110, 30, 130, 70]], atol=1e-4)
    (tmp_path / "video.xml").write_text(
        "<annotations><version>1.1</version><meta/><track id='0'/></annotations>"
    )
    with pytest.raises(DatasetError, match="'CVAT for video' export"):
        cvat.read(tmp_path / "video.xml")
    (tmp_path / "bomb.xml").write_text('<!DOCTYPE a [<!ENTITY x "y">]><annotations/>')
    with pytest.raises(DatasetError, match="carry no DTD or entities"):
        cvat.read(tmp_path / "bomb.xml")


def test_label_studio_tasks_match_the_documented_format(tmp_path: Path) -> None:
    import jsonschema

    schema = json.loads((SCHEMAS / "labelstudio_tasks.schema.json").read_text())
    ds = _dataset(tmp_path)
    save_dataset(ds, tmp_path / "ls", "labelstudio")
    tasks = json.loads((tmp_path / "ls/tasks.json").read_text())
    jsonschema.validate(tasks, schema)
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=ls/images/a.png"
    value = tasks[0]["annotations"][0]["result"][0]["value"]
    assert value == {
        "x": 5.0,
        "y": 20.0,
        "width": 20.0,
        "height": 40.0,
        "rotation": 0,
        "rectanglelabels": ["dog"],
    }
    bad = json.loads(json.dumps(tasks))
    bad[0]["annotations"][0]["result"][0]["value"]["x"] = 640  # pixels where percent belongs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    config = (tmp_path / "ls/label_config.xml").read_text()
    assert '<RectangleLabels name="label" toName="image">' in config and '<Label value="dog" />' in config


def test_cvat_xml_matches_the_documented_format(tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(SCHEMAS / "cvat_for_images_1_1.xsd")
    save_dataset(_dataset(tmp_path), tmp_path / "cv", "cvat")
    schema.validate(tmp_path / "cv/annotations.xml")
    assert load_dataset(tmp_path / "cv").same_as(_dataset(tmp_path))
    broken = (tmp_path / "cv/annotations.xml").read_text().replace('xtl="10.0000"', 'xtl="ten"')
    (tmp_path / "cv/annotations.xml").write_text(broken)
    assert not schema.is_valid(tmp_path / "cv/annotations.xml")
