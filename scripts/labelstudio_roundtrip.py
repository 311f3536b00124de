"""Round trip through a real Label Studio: spool export -> import tasks -> annotate -> export -> import.

Needs Label Studio in its own virtual environment (``make .venv-labelstudio/.installed``;
about 1 GB, not a project dependency; or ``EDGELOOP_LABEL_STUDIO_VENV=/path/to/venv``):

    python scripts/labelstudio_roundtrip.py SPOOL WORKDIR

It exports SPOOL with `edgeloop spool export --format labelstudio` into WORKDIR, starts
Label Studio on loopback (``edgeloop.testing.labelstudio``) with WORKDIR as the local-files
document root, creates a project from the exported label_config.xml, connects local storage
to the images, imports tasks.json, checks that every prediction arrived and every image is
served byte for byte, submits each task's predictions as the annotation (the first box of
the first task moved 10 px right), exports JSON with full predictions, runs `edgeloop dataset
import` on it and compares the result with the spool's predictions (plus that one move).
Prints counts; exits 1 on a mismatch. The hub's version of this trip is
tests/hub/test_labelstudio_live.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from edgeloop.testing.labelstudio import LabelStudio, labelstudio_server


def edgeloop(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "edgeloop.cli", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("spool", type=Path)
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args()
    work: Path = args.workdir.resolve()
    export = work / "spool-ls"
    edgeloop("spool", "export", str(args.spool), str(export), "--format", "labelstudio")
    with labelstudio_server(work) as ls:
        return _round_trip(ls, export, work)


def _round_trip(ls: LabelStudio, export: Path, work: Path) -> int:
    config = (export / "label_config.xml").read_text()
    project = ls.create_project("spool", config)
    ls.add_local_storage(project, export / "images")
    tasks = json.loads((export / "tasks.json").read_text())
    ls.import_tasks(project, tasks)
    predictions = ls.predictions(project)
    listed = ls.tasks(project)
    served = 0
    for task in listed:
        url = task["data"]["image"]
        served += ls.get_bytes(url) == (export / "images" / url.rsplit("/", 1)[1]).read_bytes()
    sent_boxes = sum(len(t["predictions"][0]["result"]) for t in tasks)
    got_boxes = sum(len(p["result"]) for p in predictions)
    print(f"tasks {len(tasks)} -> {len(listed)}; boxes {sent_boxes} -> {got_boxes}; images served {served}")
    by_task = {p["task"]: p for p in predictions}
    for n, task in enumerate(listed):
        prediction = by_task[task["id"]]
        result = prediction["result"]
        if n == 0 and result:
            result[0]["value"]["x"] += 10 / result[0]["original_width"] * 100
        ls.annotate(task["id"], result, prediction["id"])
    (work / "label-studio-export.json").write_text(json.dumps(ls.export(project)))
    order = [line.split('"')[1] for line in config.splitlines() if "<Label " in line]
    labelled = work / "labelled"
    edgeloop("dataset", "import", str(work / "label-studio-export.json"), str(labelled),
             "--images", str(export / "images"), "--names", ",".join(order))  # fmt: skip
    return _compare(export, labelled, order)


def _compare(export: Path, labelled: Path, order: list[str]) -> int:
    from edgeloop.data.formats import load_dataset

    tasks = json.loads((export / "tasks.json").read_text())
    back = {item.name: item for item in load_dataset(labelled).items}
    worst = 0.0
    for n, task in enumerate(tasks):
        name = task["data"]["image"].rsplit("/", 1)[1]
        item = back[name]
        assert item.detections is not None
        for i, r in enumerate(task["predictions"][0]["result"]):
            v, (w, h) = r["value"], item.size_wh
            want = [v["x"] * w / 100 + (10 if n == 0 and i == 0 else 0), v["y"] * h / 100]
            got = item.detections.xyxy[i][:2].tolist()
            worst = max(worst, *(abs(a - b) for a, b in zip(want, got, strict=True)))
            assert order[int(item.detections.class_id[i])] == v["rectanglelabels"][0]
    print(f"imported back {len(back)} images; largest corner difference {worst:.4f} px")
    return 0 if len(back) == len(tasks) and worst <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
