"""Once through a real Label Studio: hub export -> tasks with pre-annotations -> a box corrected
through Label Studio's API -> its JSON export -> the hub's labels (-> a dataset version).

Needs Label Studio in its own venv (`make .venv-labelstudio/.installed`); skipped without it,
failed without it under CI=true. The images are served by Label Studio's local-files storage
from the export folder (no data URLs, no network).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeloop.hub.labelling import export_pending, import_labelled
from edgeloop.testing.labelstudio import INSTALL, find_label_studio, labelstudio_server
from tests.hub.label_tools import LabelHub, label_hub

ROOT = Path(__file__).parents[2]
MOVE_PX = 10.0


@pytest.fixture(scope="module")
def label_studio_bin() -> Path:
    found = find_label_studio(ROOT)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Label Studio is missing: {INSTALL}")
        pytest.skip(f"Label Studio is not installed: {INSTALL}")
    return found


def test_a_box_corrected_in_label_studio_comes_back_to_the_hub(
    label_studio_bin: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    docroot = tmp_path / "docroot"
    export = docroot / "hub-export"
    with label_hub(tmp_path / "hub") as hub:
        with hub.engine.connect() as conn:
            result = export_pending(conn, hub.blobs, export, "labelstudio", document_root=docroot)
        assert (result.images, result.boxes) == (5, 9)
        tasks = json.loads((export / "tasks.json").read_text())
        with labelstudio_server(docroot, label_studio_bin) as ls:
            ready_s = time.monotonic() - started
            project = ls.create_project("hub", (export / "label_config.xml").read_text())
            ls.add_local_storage(project, export / "images")
            ls.import_tasks(project, tasks)
            listed = ls.tasks(project)
            predictions = {p["task"]: p for p in ls.predictions(project)}
            assert len(listed) == 5 and sum(len(p["result"]) for p in predictions.values()) == 9
            first = listed[0]
            served = ls.get_bytes(first["data"]["image"])
            assert served == hub.blobs.get(f"samples/{first['data']['sha256']}"), "image served as stored"
            # A person moves the first box of the first task 10 px right and submits it.
            prediction = predictions[first["id"]]
            result_boxes = prediction["result"]
            value = result_boxes[0]["value"]
            value["x"] += MOVE_PX / result_boxes[0]["original_width"] * 100
            ls.annotate(first["id"], result_boxes, prediction["id"])
            exported = ls.export(project)
        download = tmp_path / "project-export.json"
        download.write_text(json.dumps(exported))
        assert isinstance(exported[0]["predictions"][0], dict), "full predictions, not ids"

        with hub.engine.begin() as conn:
            report = import_labelled(conn, hub.blobs, download, by="label-studio")
        assert (report.format, report.matched, report.unmatched, report.unlabelled) == (
            "labelstudio",
            1,
            0,
            4,
        )
        assert (report.boxes, report.boxes_added, report.boxes_removed, report.boxes_modified) == (2, 0, 0, 1)
        sha = first["data"]["sha256"]
        rows = hub.rows()
        assert rows[sha].status == "labelled" and rows[sha].labelled_by == "label-studio"
        assert sum(r.status == "pending" for r in rows.values()) == 4
        before = rows[sha].predictions["predictions"]
        after = rows[sha].labels["predictions"]
        assert [p["class"] for p in after] == [p["class"] for p in before]
        shift = np.asarray([[a["x"] - b["x"], a["y"] - b["y"], a["width"] - b["width"]]
                            for a, b in zip(after, before, strict=True)])  # fmt: skip
        np.testing.assert_allclose(shift, [[MOVE_PX, 0, 0], [0, 0, 0]], atol=1.0)
        _dataset_version_holds_the_correction(hub, sha, after)
    print(f"label studio ready in {ready_s:.1f} s, round trip {time.monotonic() - started:.1f} s")


def _dataset_version_holds_the_correction(hub: LabelHub, sha: str, labels: list[dict[str, Any]]) -> None:
    """A dataset version made from the labelled samples holds the corrected box (hub datasets)."""
    if importlib.util.find_spec("edgeloop.hub.datasets") is None:
        return  # dataset versions come with edgeloop.hub.datasets
    create_version = importlib.import_module("edgeloop.hub.datasets").create_version
    version = create_version(hub.engine, "field", note="corrected in Label Studio")
    assert version.version == 1 and sum(version.counts.values()) == 1
    (item,) = version.manifest["items"]
    assert item["sha256"] == sha and item["source"] == "labelled"
    got = sorted((p["class"], p["x"], p["y"]) for p in item["labels"]["predictions"])
    want = sorted((p["class"], p["x"], p["y"]) for p in labels)
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([g[1:] for g in got], [w[1:] for w in want], atol=1.0)
