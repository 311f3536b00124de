"""`edgeloop spool` status / ls / export / prune, and the labelling round trip through every export format.

spool (Capture API, colour detector) -> `spool export` -> a scripted labeller edits the
tool's own files -> `dataset import` -> equal to the expected dataset (within 1 px).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.data.formats import load_dataset
from edgeloop.improve import Spool
from tests.conftest import run_cli
from tests.improve import labelling

FORMATS = ["yolo", "coco", "voc", "labelstudio", "cvat"]


@pytest.fixture(scope="module")
def spool(yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spool") / "spool"
    labelling.make_spool(path, yolo_bundle)
    return path


def test_export_holds_the_predictions_as_pre_annotations(spool: Path, tmp_path: Path) -> None:
    pre = labelling.pre_annotations(spool)
    for fmt in FORMATS:
        out = tmp_path / fmt
        result = run_cli("spool", "export", str(spool), str(out), "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert f"exported 5 images, 9 pre-annotated boxes, classes red, green, blue ({fmt})" in result.stderr
        if fmt == "labelstudio":
            continue  # predictions are not labels until someone submits them (next test)
        assert load_dataset(out).same_as(pre, atol_px=1e-3), fmt
        lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        assert [line["name"] for line in lines] == [item.name for item in pre.items]
        assert lines[0]["sampler"] == "random" and lines[0]["model"] == "colours 3"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_a_labeller(fmt: str, spool: Path, tmp_path: Path) -> None:
    pre = labelling.pre_annotations(spool)
    exported = tmp_path / "export"
    result = run_cli("spool", "export", str(spool), str(exported), "--format", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "labelstudio":
        source = labelling.labelstudio_export(
            exported / "tasks.json", pre, tmp_path / "downloads" / "project-1.json"
        )
        args = [str(source), "--images", str(exported / "images"), "--names", "red,green,blue"]
        want = labelling.expected(pre, unlabelled_last=True)
    else:
        labelling.EDITORS[fmt](exported, pre)
        args = [str(exported)]
        want = labelling.expected(pre)
    result = run_cli("dataset", "import", *args, str(tmp_path / "labelled"))
    assert result.returncode == 0, result.stderr
    if fmt == "labelstudio":
        assert "1 tasks not labelled yet were left out" in result.stderr
    back = load_dataset(tmp_path / "labelled")
    assert back.same_as(want, atol_px=1.0)
    check = run_cli("dataset", "check", str(tmp_path / "labelled"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_status_ls_and_filters(spool: Path) -> None:
    result = run_cli("spool", "status", str(spool), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["held"] == 5 and status["by_state"] == {"captured": 5}
    assert status["counters"]["kept"] == 5 and status["counters"]["offered"] == 5
    assert status["budget"]["max_count"] == 10_000 and status["held_bytes"] > 0
    text = run_cli("spool", "status", str(spool)).stdout
    assert "held      5 samples" in text and "5 of 10000 samples" in text and "dropped   0" in text

    listed = run_cli("spool", "ls", str(spool), "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["predictions"][0]["class"] == "red" and rows[0]["width"] == 640
    blue = run_cli("spool", "ls", str(spool), "--class", "blue", "--json").stdout.splitlines()
    assert [json.loads(r)["seq"] for r in blue] == [2, 3, 5]
    iso = "2023-11-14T22:15:50"  # START_TIME + 150 s (UTC); frames are a minute apart: the last two
    late = run_cli("spool", "ls", str(spool), "--since", iso, "--json").stdout.splitlines()
    assert [json.loads(r)["seq"] for r in late] == [4, 5]
    assert run_cli("spool", "ls", str(spool), "--sampler", "interval").stdout == ""
    table = run_cli("spool", "ls", str(spool), "--limit", "2")
    assert len(table.stdout.splitlines()) == 2 and "random" in table.stdout and "2 samples" in table.stderr
    bad = run_cli("spool", "ls", str(spool), "--since", "yesterday")
    assert bad.returncode == 1 and "not a time" in bad.stderr


def test_status_works_while_a_capture_holds_the_spool(spool: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(spool, copy)
    with Spool(copy):  # the writer's lock is held, as by `edgeloop run --capture`
        assert run_cli("spool", "status", str(copy)).returncode == 0
        assert run_cli("spool", "export", str(copy), str(tmp_path / "x"), "--format", "coco").returncode == 0
        refused = run_cli("spool", "prune", str(copy), "--yes")
        assert refused.returncode == 1 and "in use by another process" in refused.stderr


def test_prune_is_a_dry_run_unless_told(spool: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(spool, copy)
    with Spool(copy) as store:
        first, second = store.samples()[:2]
        store.ack(first.sha256)
    dry = run_cli("spool", "prune", str(copy))
    assert "would remove 1 acked rows and 0 held samples" in dry.stderr
    with Spool(copy) as store:
        assert len(store.samples("acked")) == 1
    done = run_cli("spool", "prune", str(copy), "--yes")
    assert "removed 1 acked rows and 0 held samples" in done.stderr, done.stderr
    # frames 1-3 were captured before 22:15:30 (frame 1 is gone already)
    old = run_cli("spool", "prune", str(copy), "--older-than", "2023-11-14T22:15:30", "--yes")
    assert old.returncode == 0, old.stderr
    with Spool(copy) as store:
        assert store.samples("acked") == []
        held = store.samples()
        assert [s.seq for s in held] == [4, 5] and second.sha256 not in {s.sha256 for s in held}
        assert sorted(p.stem for p in store.images.iterdir()) == sorted(s.sha256 for s in held)
        counters = store.counters()
        assert counters["pruned"] == 2 and counters["tombstones_pruned"] == 1
        assert store.size == (2, sum(s.bytes for s in held))


def test_export_filters_and_errors(spool: Path, yolo_bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "reds"
    result = run_cli(
        "spool", "export", str(spool), str(out), "--format", "yolo", "--class", "red", "--names", "red,green"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "exported 3 images" in result.stderr
        and "1 predictions of classes not in --names left out" in result.stderr
    )
    assert load_dataset(out).names == ("red", "green")
    model_names = run_cli("spool", "export", str(spool), str(tmp_path / "m"), "--format", "voc",
                          "--names", str(yolo_bundle.root), "--min-confidence", "0.5")  # fmt: skip
    assert model_names.returncode == 0, model_names.stderr
    assert load_dataset(tmp_path / "m").names == ("red", "green", "blue")
    again = run_cli("spool", "export", str(spool), str(out), "--format", "yolo")
    assert again.returncode == 1 and "not empty: choose a new output folder" in again.stderr
    wrong = run_cli("spool", "export", str(spool), str(tmp_path / "w"), "--format", "pascal")
    assert wrong.returncode == 1 and "choose one of yolo, coco, voc, labelstudio, cvat" in wrong.stderr
    missing = run_cli("spool", "status", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "not a spool (no spool.db)" in missing.stderr


def test_exports_match_the_documented_formats_and_a_maintained_reader(spool: Path, tmp_path: Path) -> None:
    """Label Studio tasks against a JSON Schema, CVAT XML against an XML Schema (both written from the
    tools' documentation, tests/data/schemas/) and read back by globox, a maintained converter."""
    import globox
    import jsonschema
    import xmlschema

    schemas = Path(__file__).parents[1] / "data" / "schemas"
    pre = labelling.pre_annotations(spool)
    for fmt in ("labelstudio", "cvat"):
        assert run_cli("spool", "export", str(spool), str(tmp_path / fmt), "--format", fmt).returncode == 0
    tasks = json.loads((tmp_path / "labelstudio" / "tasks.json").read_text())
    jsonschema.validate(tasks, json.loads((schemas / "labelstudio_tasks.schema.json").read_text()))
    first = tasks[0]
    assert (
        first["predictions"][0]["model_version"] == "colours 3" and 0 <= first["predictions"][0]["score"] <= 1
    )
    assert first["data"]["image"] == f"/data/local-files/?d=labelstudio/images/{pre.items[0].name}"
    assert first["data"]["sampler"] == "random" and first["data"]["device_id"] == "cam-1"
    assert "annotations" not in first  # pre-annotations are predictions, never someone's labels

    xml = tmp_path / "cvat" / "annotations.xml"
    xmlschema.XMLSchema(schemas / "cvat_for_images_1_1.xsd").validate(xml)
    assert xml.read_text().count('source="auto"') == 9
    theirs = {a.image_id: a for a in globox.AnnotationSet.from_cvat(xml)}
    assert sorted(theirs) == sorted(item.name for item in pre.items)
    for item in pre.items:
        assert item.detections is not None
        annotation = theirs[item.name]
        assert annotation.image_size == item.size_wh
        assert [b.label for b in annotation.boxes] == [
            pre.names[c] for c in item.detections.class_id.tolist()
        ]
        np.testing.assert_allclose([b.ltrb for b in annotation.boxes], item.detections.xyxy, atol=1e-3)


def test_spool_commands_run_on_a_device_without_torch_or_opencv(spool: Path, tmp_path: Path) -> None:
    from tests.blocked import run_without

    code = f"""
from edgeloop.cli.main import app
for args in (["status", {str(spool)!r}], ["ls", {str(spool)!r}],
             ["export", {str(spool)!r}, {str(tmp_path / "out")!r}, "--format", "labelstudio"]):
    try:
        app(["spool", *args])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
assert "torch" not in sys.modules and "cv2" not in sys.modules
"""
    result = run_without(("torch", "cv2"), code)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "tasks.json").is_file()


def test_a_sample_leaving_the_spool_during_an_export_is_counted_not_fatal(
    spool: Path, tmp_path: Path
) -> None:
    from edgeloop.improve.export import ExportOptions, export_spool
    from edgeloop.improve.inventory import SpoolView

    copy = tmp_path / "copy"
    shutil.copytree(spool, copy)
    with SpoolView(copy) as view:
        samples = view.samples()
        view.path(samples[1].sha256).unlink()  # evicted by the capture process after the listing
        result = export_spool(view, samples, tmp_path / "out", ExportOptions("coco"))
    assert (result.images, result.missing, result.boxes) == (4, 1, 7)
    assert len(load_dataset(tmp_path / "out").items) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "out"], "the staging folder is removed"


def test_cvat_zip_and_label_studio_predictions_import(spool: Path, tmp_path: Path) -> None:
    import zipfile

    assert run_cli("spool", "export", str(spool), str(tmp_path / "cv"), "--format", "cvat").returncode == 0
    archive = tmp_path / "task.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((tmp_path / "cv").rglob("*")):
            zf.write(p, p.relative_to(tmp_path / "cv").as_posix())
    result = run_cli("dataset", "import", str(archive), str(tmp_path / "from-zip"))
    assert result.returncode == 0, result.stderr
    assert "imported 5 images, 9 boxes, 3 classes (cvat, detect)" in result.stderr
    pre = labelling.pre_annotations(spool)
    assert load_dataset(tmp_path / "from-zip").same_as(pre, atol_px=1e-3)

    assert (
        run_cli("spool", "export", str(spool), str(tmp_path / "ls"), "--format", "labelstudio").returncode
        == 0
    )
    unlabelled = run_cli("dataset", "import", str(tmp_path / "ls"), str(tmp_path / "none"))
    assert (
        unlabelled.returncode == 1
        and "no labelled image to import: 5 tasks not labelled yet" in unlabelled.stderr
    )
    taken = run_cli(
        "dataset", "import", str(tmp_path / "ls"), str(tmp_path / "pred"), "--predictions", "--to", "coco"
    )
    assert taken.returncode == 0, taken.stderr
    assert load_dataset(tmp_path / "pred").same_as(pre, atol_px=1e-3)


def test_label_studio_image_urls(spool: Path, tmp_path: Path) -> None:
    first = labelling.pre_annotations(spool).items[0].name
    root = tmp_path / "docroot"
    out = root / "batches" / "may"
    assert run_cli("spool", "export", str(spool), str(out), "--format", "labelstudio",
                   "--document-root", str(root)).returncode == 0  # fmt: skip
    tasks = json.loads((out / "tasks.json").read_text())
    assert tasks[0]["data"]["image"] == f"/data/local-files/?d=batches/may/images/{first}"
    served = tmp_path / "served"
    assert run_cli("spool", "export", str(spool), str(served), "--format", "labelstudio",
                   "--image-url", "http://127.0.0.1:8081/imgs").returncode == 0  # fmt: skip
    tasks = json.loads((served / "tasks.json").read_text())
    assert tasks[0]["data"]["image"] == f"http://127.0.0.1:8081/imgs/{first}"
    outside = run_cli("spool", "export", str(spool), str(tmp_path / "x"), "--format", "labelstudio",
                      "--document-root", str(root))  # fmt: skip
    assert outside.returncode == 1 and "is not under it" in outside.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
