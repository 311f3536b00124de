"""Round trip through a real Label Studio: spool export -> import tasks -> annotate -> export -> import.

Needs Label Studio in its own virtual environment (about 1 GB; not a project dependency):

    python -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install 'label-studio==1.23.*'
    python scripts/labelstudio_roundtrip.py SPOOL WORKDIR --label-studio /tmp/ls-venv/bin/label-studio

It exports SPOOL with `edgeloop spool export --format labelstudio` into WORKDIR, starts
Label Studio on loopback with WORKDIR as the local-files document root, creates a project
from the exported label_config.xml, connects local storage to the images, imports
tasks.json, checks that every prediction arrived and every image is served byte for byte,
submits each task's predictions as the annotation (the first box of the first task moved
10 px right), exports JSON, runs `edgeloop dataset import` on it and compares the result
with the spool's predictions (plus that one move). Prints counts; exits 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def edgeloop(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "edgeloop.cli", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spool", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--label-studio", default="label-studio")
    parser.add_argument("--port", type=int, default=8093)
    args = parser.parse_args()
    work: Path = args.workdir.resolve()
    export = work / "spool-ls"
    edgeloop("spool", "export", str(args.spool), str(export), "--format", "labelstudio")
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(work / "ls-data"),
        "LABEL_STUDIO_USERNAME": "edgeloop@example.com",
        "LABEL_STUDIO_PASSWORD": "edgeloop-roundtrip",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(work),
    }
    base, headers = f"http://127.0.0.1:{args.port}", {"Authorization": f"Token {TOKEN}"}
    command = [
        args.label_studio,
        "start",
        "--port",
        str(args.port),
        "--internal-host",
        "127.0.0.1",
        "--no-browser",
    ]
    with open(work / "label-studio.log", "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        return _round_trip(base, headers, export, work)
    finally:
        server.terminate()
        server.wait(30)


def _round_trip(base: str, headers: dict[str, str], export: Path, work: Path) -> int:
    started = time.monotonic()
    while time.monotonic() - started < 300:
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(2)
    config = (export / "label_config.xml").read_text()
    project = requests.post(
        f"{base}/api/projects", headers=headers, json={"title": "spool", "label_config": config}, timeout=30
    ).json()["id"]
    storage = {"project": project, "path": str(export / "images"), "use_blob_urls": False, "title": "spool"}
    requests.post(
        f"{base}/api/storages/localfiles", headers=headers, json=storage, timeout=30
    ).raise_for_status()
    tasks = json.loads((export / "tasks.json").read_text())
    imported = requests.post(f"{base}/api/projects/{project}/import", headers=headers, json=tasks, timeout=60)
    imported.raise_for_status()
    predictions = requests.get(
        f"{base}/api/predictions?project={project}", headers=headers, timeout=30
    ).json()
    listed = requests.get(
        f"{base}/api/tasks?project={project}&page_size=1000", headers=headers, timeout=30
    ).json()
    listed = sorted(listed["tasks"] if isinstance(listed, dict) else listed, key=lambda t: t["id"])
    served = 0
    for task in listed:
        url = task["data"]["image"]
        image = requests.get(base + url, headers=headers, timeout=30)
        served += (
            image.status_code == 200
            and image.content == (export / "images" / url.rsplit("/", 1)[1]).read_bytes()
        )
    sent_boxes = sum(len(t["predictions"][0]["result"]) for t in tasks)
    got_boxes = sum(len(p["result"]) for p in predictions)
    print(f"tasks {len(tasks)} -> {len(listed)}; boxes {sent_boxes} -> {got_boxes}; images served {served}")
    by_task = {p["task"]: p["result"] for p in predictions}
    for n, task in enumerate(listed):
        result = by_task[task["id"]]
        if n == 0 and result:
            result[0]["value"]["x"] += 10 / result[0]["original_width"] * 100
        url = f"{base}/api/tasks/{task['id']}/annotations"
        requests.post(url, headers=headers, json={"result": result}, timeout=30).raise_for_status()
    exported = requests.get(
        f"{base}/api/projects/{project}/export?exportType=JSON", headers=headers, timeout=60
    )
    (work / "label-studio-export.json").write_bytes(exported.content)
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
