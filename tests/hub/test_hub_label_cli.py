"""`edgeloop hub label export / import` against the data folder of a real hub that devices uploaded to."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.imaging import encode_jpeg
from edgeloop.testing.hub_server import HubServer
from tests.conftest import run_cli
from tests.hub.label_tools import LabelHub, check_labels, wire
from tests.improve import labelling

HAS_DATASETS = importlib.util.find_spec("edgeloop.hub.datasets") is not None


def _upload_frames(server: HubServer) -> list[str]:
    token = server.add_device("cam-1")
    shas = []
    for i, squares in enumerate(labelling.FRAMES):
        image = encode_jpeg(labelling.frame(squares))
        meta = {
            "captured_at": labelling.START_TIME + 60 * i, "width": 640, "height": 480,
            "model_name": "colours", "model_version": "3", "predictions": wire(squares),
            "sampler": "random", "score": 0.5, "reason": "random", "tags": [],
        }  # fmt: skip
        status, body = server.upload(token, image, meta)
        assert status == 201, body
        shas.append(hashlib.sha256(image).hexdigest())
    return shas


def test_export_edit_import_through_the_cli(sqlite_hub: HubServer, tmp_path: Path) -> None:
    shas = _upload_frames(sqlite_hub)
    data = str(sqlite_hub.data_dir)
    out = tmp_path / "cvat"
    result = run_cli("hub", "label", "export", "--format", "cvat", "--out", str(out), "--data", data)
    assert result.returncode == 0, result.stderr
    assert "exported 5 samples, 9 pre-annotated boxes, classes red, green, blue (cvat)" in result.stderr
    engine = create_engine(f"sqlite:///{sqlite_hub.data_dir / 'hub.db'}")
    hub = LabelHub(engine, open_blobs(str(sqlite_hub.data_dir / "blobs")), shas, tmp_path)
    try:
        labelling.edit_cvat(out, hub.pre())
        args = ["hub", "label", "import", str(out / "annotations.xml"), "--data", data, "--by", "ann"]
        if HAS_DATASETS:
            args += ["--dataset", "field"]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert (
            "labelled 5 samples (cvat), 9 boxes: 4 changed (1 added, 1 removed, 2 moved or re-classed)"
            in result.stderr
        )
        check_labels(hub)
        if HAS_DATASETS:
            assert "dataset field v1 (" in result.stderr, result.stderr
        status, body = sqlite_hub.json("GET", "/api/v1/samples?status=labelled")
        assert status == 200 and len(body["samples"]) == 5, "the running hub sees the labels"
        again = run_cli(
            "hub", "label", "export", "--format", "coco", "--out", str(tmp_path / "c"), "--data", data
        )
        assert "exported 0 samples" in again.stderr, "nothing is pending any more"
        filters = ["--status", "labelled", "--class", "blue", "--since", "2023-11-14T22:14", "--data", data]
        ls_out = str(tmp_path / "ls")
        labelled = run_cli("hub", "label", "export", "--format", "labelstudio", "--out", ls_out, *filters)
        assert labelled.returncode == 0, labelled.stderr
        tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
        assert [t["data"]["sha256"] for t in tasks] == [shas[1], shas[2], shas[4]]
    finally:
        hub.blobs.close()
        engine.dispose()


def test_cli_errors_name_the_fix(sqlite_hub: HubServer, tmp_path: Path) -> None:
    data = str(sqlite_hub.data_dir)
    wrong = run_cli(
        "hub", "label", "export", "--format", "pascal", "--out", str(tmp_path / "x"), "--data", data
    )
    assert wrong.returncode == 1 and "choose one of yolo, coco, voc, labelstudio, cvat" in wrong.stderr
    missing = run_cli("hub", "label", "import", str(tmp_path / "nothing.json"), "--data", data)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    helped = run_cli("hub", "label", "export", "--help")
    assert all(fmt in helped.stdout for fmt in ("labelstudio", "cvat", "coco", "yolo"))
    if not HAS_DATASETS:
        (tmp_path / "e").mkdir()
        needs = run_cli("hub", "label", "import", str(tmp_path / "e"), "--data", data, "--dataset", "d")
        assert needs.returncode == 1 and "edgeloop hub dataset create" in needs.stderr
