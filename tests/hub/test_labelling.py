"""The labelling hand-off: hub pending samples -> a tool's files -> a scripted labeller -> the hub's labels.

For every format the scripted labeller of tests/improve/labelling.py edits the tool's
own files (a box moved 10 px, one deleted, one added, one re-classed); the import must
leave exactly those labels on the samples (within 1 px), and the exported files must
read in the formats' schemas and maintained converters, not only our own readers.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from edgeloop.errors import DatasetError
from edgeloop.hub import schema
from edgeloop.hub.label_files import changed_boxes
from edgeloop.hub.labelling import PendingFilter, export_pending, import_labelled
from tests.hub.label_tools import LabelHub, check_labels, label_hub
from tests.improve import labelling

SCHEMAS = Path(__file__).parents[1] / "data" / "schemas"
FORMATS = ["labelstudio", "cvat", "coco", "yolo"]


@pytest.fixture
def hub(hub_backend: tuple[str, str], tmp_path: Path) -> Iterator[LabelHub]:
    """The five samples on SQLite and on a real PostgreSQL server (tests/hub/conftest.py)."""
    db_url, blobs_url = hub_backend
    with label_hub(tmp_path / "hub", db_url, blobs_url) as made:
        yield made


def _export(hub: LabelHub, out: Path, fmt: str, filters: PendingFilter | None = None) -> None:
    with hub.engine.connect() as conn:
        result = export_pending(conn, hub.blobs, out, fmt, filters)
    assert (result.images, result.boxes, result.missing) == (5, 9, 0) or filters is not None
    assert result.names == labelling.NAMES


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_a_labeller(fmt: str, hub: LabelHub, tmp_path: Path) -> None:
    exported = tmp_path / "export"
    _export(hub, exported, fmt)
    pre = hub.pre()
    if fmt == "labelstudio":  # Label Studio's export names the images only: they come from the blobs
        source = labelling.labelstudio_export(
            exported / "tasks.json", pre, tmp_path / "dl" / "project-1.json"
        )
    else:
        labelling.EDITORS[fmt](exported, pre)
        source = exported
    with hub.engine.begin() as conn:
        report = import_labelled(conn, hub.blobs, source, by="tester")
    assert report.format == fmt
    assert (report.matched, report.unmatched) == ((4, 0) if fmt == "labelstudio" else (5, 0))
    assert (report.boxes_added, report.boxes_removed, report.boxes_modified) == (1, 1, 2)
    assert report.unlabelled == (1 if fmt == "labelstudio" else 0) and report.problems == ()
    check_labels(hub, unlabelled_last=fmt == "labelstudio")
    assert {r.labelled_by for r in hub.rows().values() if r.labels} == {"tester"}


def test_exports_match_the_documented_formats_and_maintained_readers(hub: LabelHub, tmp_path: Path) -> None:
    import globox
    import jsonschema
    import xmlschema
    from pycocotools.coco import COCO

    for fmt in FORMATS:
        _export(hub, tmp_path / fmt, fmt)
    pre = hub.pre()
    want = {item.name: item for item in pre.items}

    tasks = json.loads((tmp_path / "labelstudio" / "tasks.json").read_text())
    jsonschema.validate(tasks, json.loads((SCHEMAS / "labelstudio_tasks.schema.json").read_text()))
    assert [t["data"]["image"].rsplit("/", 1)[1] for t in tasks] == [f"{s}.jpg" for s in hub.shas]
    assert tasks[0]["data"]["sha256"] == hub.shas[0] and tasks[0]["data"]["device"] == "cam-1"
    assert tasks[0]["predictions"][0]["model_version"] == "colours 3" and "annotations" not in tasks[0]

    xml = tmp_path / "cvat" / "annotations.xml"
    xmlschema.XMLSchema(SCHEMAS / "cvat_for_images_1_1.xsd").validate(xml)
    assert xml.read_text().count('source="auto"') == 9

    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert len(coco.getImgIds()) == 5 and len(coco.getAnnIds()) == 9
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(labelling.NAMES)

    readers = {
        "cvat": globox.AnnotationSet.from_cvat(xml),
        "coco": globox.AnnotationSet.from_coco(tmp_path / "coco" / "annotations.json"),
        "yolo": globox.AnnotationSet.from_yolo_v5(
            tmp_path / "yolo" / "labels", image_folder=tmp_path / "yolo" / "images"
        ),
    }
    for fmt, theirs in readers.items():
        got = {a.image_id if fmt != "yolo" else f"{a.image_id}": a for a in theirs}
        assert sorted(got) == sorted(want), fmt
        for name, item in want.items():
            assert item.detections is not None
            labels = [b.label for b in got[name].boxes]
            if fmt == "yolo":
                labels = [labelling.NAMES[int(label)] for label in labels]
            assert labels == [labelling.NAMES[c] for c in item.detections.class_id.tolist()], fmt
            ltrb = np.asarray([b.ltrb for b in got[name].boxes])
            np.testing.assert_allclose(ltrb, item.detections.xyxy, atol=1e-2, err_msg=fmt)
    samples = [json.loads(line) for line in (tmp_path / "coco" / "samples.jsonl").read_text().splitlines()]
    assert [s["sha256"] for s in samples] == hub.shas and samples[0]["model"] == "colours 3"


def test_filters_select_what_is_exported(hub: LabelHub, tmp_path: Path) -> None:
    start = labelling.START_TIME
    cases = {
        "blue": (PendingFilter(class_name="blue"), [1, 2, 4]),
        "late": (PendingFilter(since=start + 150), [3, 4]),
        "window": (PendingFilter(since=start + 60, until=start + 180), [1, 2]),
        "device": (PendingFilter(device="cam-2"), []),
        "cam-1": (PendingFilter(device="cam-1"), [0, 1, 2, 3, 4]),
        "sampler": (PendingFilter(sampler="random", limit=2), [0, 1]),
    }
    for name, (filters, want) in cases.items():
        with hub.engine.connect() as conn:
            result = export_pending(conn, hub.blobs, tmp_path / name, "coco", filters)
        lines = (tmp_path / name / "samples.jsonl").read_text().splitlines()
        assert [json.loads(line)["sha256"] for line in lines] == [hub.shas[i] for i in want], name
        assert result.images == len(want)
    with hub.engine.begin() as conn:  # a labelled sample is no longer pending
        conn.execute(sa.update(schema.samples).where(schema.samples.c.sha256 == hub.shas[0])
                     .values(status="labelled"))  # fmt: skip
        result = export_pending(conn, hub.blobs, tmp_path / "pending", "yolo")
    assert result.images == 4
    hub.blobs.delete(f"samples/{hub.shas[1]}")
    with hub.engine.connect() as conn:
        result = export_pending(conn, hub.blobs, tmp_path / "gone", "cvat")
    assert (result.images, result.missing) == (3, 1)
    with pytest.raises(DatasetError, match="not empty"), hub.engine.connect() as conn:
        export_pending(conn, hub.blobs, tmp_path / "gone", "cvat")


def test_cvat_zip_without_images_and_unknown_images(hub: LabelHub, tmp_path: Path) -> None:
    """A CVAT task export holds annotations.xml only; images are read from the blob store.
    An image the hub does not hold is counted as unmatched and changes nothing."""
    exported = tmp_path / "export"
    _export(hub, exported, "cvat")
    labelling.edit_cvat(exported, hub.pre())
    archive = tmp_path / "task.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(exported / "annotations.xml", "annotations.xml")
    with hub.engine.begin() as conn:
        report = import_labelled(conn, hub.blobs, archive)
    assert (report.format, report.matched, report.boxes_changed) == ("cvat", 5, 4)
    check_labels(hub)
    assert {r.labelled_by for r in hub.rows().values()} == {"cvat import"}

    coco = tmp_path / "coco"
    _export(hub, coco, "coco", PendingFilter(status="all"))
    stranger = coco / "images" / ("f" * 64 + ".jpg")
    shutil.copyfile(coco / "images" / f"{hub.shas[0]}.jpg", stranger)
    doc = json.loads((coco / "annotations.json").read_text())
    doc["images"].append({"id": 99, "file_name": stranger.name, "width": 640, "height": 480})
    (coco / "annotations.json").write_text(json.dumps(doc))
    with hub.engine.begin() as conn:
        report = import_labelled(conn, hub.blobs, coco, by="again")
    # the stranger's bytes are sample 0's, but its name names an unknown sha256: not matched
    assert (report.matched, report.unmatched, report.unmatched_names) == (5, 1, (stranger.name,))
    assert report.boxes_changed == 0, "labelled samples export their labels, not the predictions"
    check_labels(hub)
    assert {r.labelled_by for r in hub.rows().values()} == {"again"}


def test_a_file_without_the_sha_in_its_name_is_matched_by_its_bytes(hub: LabelHub, tmp_path: Path) -> None:
    exported = tmp_path / "yolo"
    _export(hub, exported, "yolo")
    pre = hub.pre()
    labelling.edit_yolo(exported, pre)
    for n, sha in enumerate(hub.shas):
        (exported / "images" / f"{sha}.jpg").rename(exported / "images" / f"frame{n}.jpg")
        (exported / "labels" / f"{sha}.txt").rename(exported / "labels" / f"frame{n}.txt")
    with hub.engine.begin() as conn:
        report = import_labelled(conn, hub.blobs, exported, format="yolo")
    assert (report.matched, report.unmatched) == (5, 0)
    check_labels(hub)


def test_yolo_labels_without_images_and_a_rolled_back_import(hub: LabelHub, tmp_path: Path) -> None:
    exported = tmp_path / "yolo"
    _export(hub, exported, "yolo")
    labelling.edit_yolo(exported, hub.pre())
    shutil.rmtree(exported / "images")
    with pytest.raises(RuntimeError, match="abort"), hub.engine.begin() as conn:
        import_labelled(conn, hub.blobs, exported)
        raise RuntimeError("abort")
    assert all(r.status == "pending" for r in hub.rows().values()), "one transaction: nothing kept"
    with hub.engine.begin() as conn:
        report = import_labelled(conn, hub.blobs, exported)
    assert report.matched == 5
    check_labels(hub)


def test_changed_boxes_counts() -> None:
    def wire(*boxes: tuple[float, float, float, float, str]) -> dict[str, object]:
        return {
            "predictions": [{"x": x, "y": y, "width": w, "height": h, "class": c} for x, y, w, h, c in boxes]
        }

    a, b = (50, 50, 20, 20, "red"), (150, 50, 20, 20, "blue")
    assert changed_boxes(wire(a, b), wire(a, b)) == (0, 0, 0)
    assert changed_boxes(wire(a, b), wire((50.5, 50, 20, 20, "red"), b)) == (0, 0, 0)
    assert changed_boxes(wire(a, b), wire((53, 50, 20, 20, "red"), b)) == (0, 0, 1)
    assert changed_boxes(wire(a, b), wire((50, 50, 20, 20, "blue"))) == (0, 1, 1)
    assert changed_boxes(None, wire(a)) == (1, 0, 0)
    assert changed_boxes(wire(a), wire()) == (0, 1, 0)


def test_a_missing_source_is_named(hub: LabelHub, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"), hub.engine.begin() as conn:
        import_labelled(conn, hub.blobs, tmp_path / "nowhere.json")
