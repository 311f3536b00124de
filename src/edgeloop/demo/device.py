"""The demo's simulated device: a camera looking at the shifted domain, run as separate processes.

The "camera" is a video file of synthetic ``DOMAIN_B`` frames (smaller, muted shapes on striped,
darker, tinted, noisy scenes: what the first model never saw). The device is the real command a
deployment runs, ``edgeloop run --models DIR --source VIDEO --capture policy.yaml --spool SPOOL
--hub URL`` (the version the agent installed; capture and sync beside inference), then
``edgeloop sync --once`` to send what is still held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeloop.demo.hubproc import DemoError, run_cli
from edgeloop.optional import require_opencv

cv2 = require_opencv("the demo", "train")

DEVICE = "field-cam-1"
VIDEO_FPS = 10


def make_shifted_video(folder: Path, frames: int, size: int, seed: int) -> Path:
    """Synthesize ``frames`` shifted-domain images with their true labels into ``folder/frames``
    and write them, in order, as ``folder/shifted.avi`` (Motion JPEG at quality 95)."""
    from edgeloop.data.formats import load_dataset
    from edgeloop.data.synth import DOMAIN_B, synth_detection

    synth_detection(folder / "frames", frames, size, seed=seed, domain=DOMAIN_B)
    video = folder / "shifted.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (size, size))
    if not writer.isOpened():
        raise DemoError(f"OpenCV cannot write {video} (Motion JPEG): reinstall opencv-python-headless")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for item in load_dataset(folder / "frames").items:
        writer.write(cv2.imread(str(item.image)))
    writer.release()
    return video


def capture_policy(budget: int, seed: int) -> dict[str, Any]:
    """Keep the frames the model is unsure about or finds too little in, at most ``budget`` of them
    (the lowest scores are evicted first)."""
    return {
        "samplers": [
            {"type": "close_to_threshold", "band": [0.2, 0.6], "min_score": 0.3, "tags": ["uncertain"]},
            {"type": "detection_count", "fewer_than": 2, "min_score": 1.0, "tags": ["too-few"]},
        ],
        "budget": {"max_count": budget, "max_bytes": None},
        "image": {"jpeg_quality": 95},
        "seed": seed,
        "counters_flush_s": 1.0,
    }


@dataclass(frozen=True)
class DeviceRun:
    """What the device did: frames looked at, offered to and kept by capture, sent by the last sync."""

    frames: int
    fps: float
    boxes: int
    offered: int
    kept: int
    drained: int
    model: str


def run_device(
    models: Path, video: Path, folder: Path, hub_url: str, token: str, budget: int, seed: int
) -> DeviceRun:
    """Run the models folder's current version (``run --models``) on the video with capture and sync
    to the hub, then drain the spool; every frame's detections go to ``folder/detections-<v>.jsonl``."""
    import yaml

    from edgeloop.agent.layout import current_bundle

    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(capture_policy(budget, seed), sort_keys=False))
    spool, log = folder / "spool", folder / "device.log"
    env = {"EDGELOOP_HUB_TOKEN": token}
    bundle = current_bundle(models)
    if bundle is None:
        raise DemoError(f"{models} has no current version: the agent installs one first")
    manifest = json.loads(bundle.joinpath("bundle.json").read_text())
    args = ["run", "--models", str(models), "--source", str(video), "--capture", str(policy)]
    args += ["--spool", str(spool)]
    detections = folder / f"detections-{manifest['version']}.jsonl"
    args += ["--device-id", DEVICE, "--hub", hub_url, "--sink", f"jsonl:{detections}"]
    run_cli(*args, "--stats-every", "0", "--summary-json", log=log, env=env)
    summary = _last_json(log, "frames")
    sync = ["sync", "--spool", str(spool), "--hub", hub_url, "--once", "--summary-json"]
    run_cli(*sync, log=log, env=env)
    synced = _last_json(log, "acked")
    counters: dict[str, Any] = next(iter(summary.get("capture", {}).values()), {})
    return DeviceRun(
        frames=int(summary["frames"]),
        fps=float(summary["fps"]),
        boxes=_boxes(detections),
        offered=int(counters.get("offered", 0)),
        kept=int(counters.get("kept", 0)),
        drained=int(synced.get("sent", 0)),
        model=f"{manifest['name']}@{manifest['version']}",
    )


def _boxes(jsonl: Path) -> int:
    """Detections written to ``jsonl`` (one line per frame)."""
    total = 0
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        total += len(record.get("predictions") or [])
    return total


def _last_json(log: Path, key: str) -> dict[str, Any]:
    """The last JSON object line in ``log`` that has ``key``."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith("{") and key in line:
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict) and key in found:
                return found
    raise DemoError(f"no summary with {key!r} in {log}")
