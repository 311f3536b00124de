"""The demo's field round: the first model meets a shifted domain on a device, and the loop
brings a better one back to it.

hub (``edgeloop hub serve``: SQLite, local blobs, loopback) and device (``edgeloop run`` with
capture and sync) run as separate processes; a scripted labeller stands in for a person; the
hub's retrain job fine-tunes, gates, signs and publishes; the version is rolled out and the
device switches (``ota.roll_out_and_switch``). Both versions are scored on held-out
shifted-domain images through the ``Predictor``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from edgeloop.demo.config import DemoConfig
from edgeloop.demo.device import DEVICE, make_shifted_video, run_device
from edgeloop.demo.first import FirstRound
from edgeloop.demo.hubproc import DemoError, Hub, run_cli
from edgeloop.demo.labeller import GroundTruth, label_captured
from edgeloop.demo.ota import roll_out_and_switch
from edgeloop.demo.steps import Steps, console, torch_threads

MODEL = "shapes"
GROUP = "field"
DATASET = "field"
JOB_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class FieldRound:
    """What the field round measured."""

    captured: int
    labelled: int
    published: int | None
    switched_to: str
    ota: str
    map_before: float
    map_after: float
    hub: Hub


def field_round(out: Path, first: FirstRound, cfg: DemoConfig, steps: Steps) -> FieldRound:
    """Run the field round under ``out/field``; the hub is stopped at the end."""
    from edgeloop.data.synth import DOMAIN_B, synth_detection
    from edgeloop.signing import generate_key

    field = out / "field"
    field.mkdir(parents=True)
    keys, device_dir = field / "keys", field / "device"
    models = device_dir / "models"  # what the agent manages and `run --models` follows
    generate_key(keys, note="the demo hub's signing key")
    hub = Hub(field / "hub-data", keys, cfg.hub_port)
    log = field / "commands.log"
    with steps.step("hub started", f"starting the hub: edgeloop hub serve on {hub.url} (SQLite, blobs)") as s:
        hub.start()
        s.result = f"{hub.url}, data in {hub.data}"
    try:
        with steps.step(f"{MODEL}@1 published", f"publishing the first model as {MODEL}@1 (signed)") as s:
            checkpoint = first.run / "weights" / "best.pt"
            args = ["hub", "model", "add", str(first.bundle), "--name", MODEL, "--keys", str(keys)]
            run_cli(*args, "--checkpoint", str(checkpoint), "--data", str(hub.data), log=log)
            s.result = "the model deployed today; no gate for a first version"
        title = f"adding the device {DEVICE} (group {GROUP}); a rollout of {MODEL}@1, its agent installs it"
        with steps.step(f"device added, {MODEL}@1 rolled out", title) as s:
            token = hub.json("POST", "/api/v1/devices", {"name": DEVICE, "group": GROUP})["token"]
            ring = keys / "keyring.json"
            v1 = roll_out_and_switch(hub, MODEL, 1, GROUP, token, models, ring, log)
            s.result = f"{DEVICE} runs {MODEL}@1 ({v1.how})"
        title = (
            f"drawing a video of {cfg.field_frames} frames of the shifted domain (B: small, muted, striped)"
        )
        with steps.step("shifted-domain video", title) as s:
            video = make_shifted_video(field / "camera", cfg.field_frames, cfg.image_size, cfg.seed + 10)
            test_dir, n_test = field / "shifted-test", cfg.shifted_test_images
            test = synth_detection(test_dir, n_test, cfg.image_size, seed=cfg.seed + 11, domain=DOMAIN_B)
            s.result = f"{video.name}; and {len(test)} held-out shifted images to score on"
        title = "the device (its own process): edgeloop run on the video, capture, sync to the hub"
        with steps.step("device: run, capture, sync", title) as s:
            ran = run_device(models, video, device_dir, hub.url, token, cfg.label_budget, cfg.seed)
            captured = hub.json("GET", f"/api/v1/review/next?device={DEVICE}")["remaining"]
            s.result = f"{ran.frames} frames at {ran.fps:.0f} fps; {captured} captured frames at the hub"
            console.print(f"   {s.result} (the device holds at most {cfg.label_budget} unsent)")
        title = "labelling: a SCRIPT stands in for a person here, copying the synthetic ground truth"
        with steps.step("labelling (scripted stand-in)", title) as s:
            done = label_captured(hub, GroundTruth(field / "camera" / "frames"), DEVICE)
            s.result = f"{done.samples} frames, {done.boxes} boxes (the device had found {done.predicted})"
            console.print(f"   {s.result}, through the hub's review API")
        with steps.step(
            "dataset version", f"making a version of dataset {DATASET} from the labelled frames"
        ) as s:
            created = hub.json("POST", "/api/v1/datasets", {"name": DATASET, "where": {"device": DEVICE}})
            s.result = f"{DATASET}@{created['version']} {created['counts']}"
        title = f"retrain job on the hub: fine-tune {MODEL}@1 on the field data, gate, sign, publish"
        with steps.step("retrain, gate, sign, publish", title) as s:
            result = _retrain(hub, cfg, f"{DATASET}@{created['version']}")
            s.result = f"{MODEL}@{result['version']} {result['status']}"
            if result["status"] != "published":
                raise DemoError(f"the gate refused the candidate: {result.get('reasons')}")
            published = int(result["version"])
        title = f"rolling out {MODEL}@{published} to group {GROUP}; the device switches"
        with steps.step("rollout, device switches", title) as s:
            v2 = roll_out_and_switch(hub, MODEL, published, GROUP, token, models, ring, log)
            s.result = f"{DEVICE} runs {MODEL}@{v2.version} ({v2.how})"
            console.print(f"   {s.result}")
        title = f"the device runs {MODEL}@{published} on the same video (and tells the hub in its heartbeat)"
        with steps.step("device serves the new version", title) as s:
            again = run_device(models, video, device_dir, hub.url, token, cfg.label_budget, cfg.seed)
            seen = {d["name"]: d for d in hub.json("GET", "/api/v1/devices")["devices"]}[DEVICE]
            truth = sum(len(i.detections or ()) for i in GroundTruth(field / "camera" / "frames").items)
            s.result = (
                f"boxes found on the video: {ran.boxes} with @1, {again.boxes} with @{published} "
                f"(true: {truth}); hub shows {DEVICE} on version {seen.get('model_version')}"
            )
            console.print(f"   {s.result}")
        title = f"scoring {MODEL}@1 and @{published} on {len(test)} held-out shifted images (Predictor)"
        with steps.step("shifted-domain mAP", title) as s:
            before, after = _score(v1.bundle, test), _score(v2.bundle, test)
            s.result = f"mAP50-95 {before:.3f} -> {after:.3f}"
    finally:
        hub.stop()
    return FieldRound(captured, done.samples, published, v2.version, v2.how, before, after, hub)


def _retrain(hub: Hub, cfg: DemoConfig, dataset: str) -> dict[str, Any]:
    """Queue the retrain job, echo its log as it runs, return its result."""
    train: dict[str, Any] = {"imgsz": cfg.imgsz, "time_s": cfg.finetune_time_s, "epochs": cfg.finetune_epochs}
    if cfg.finetune_lr is not None:
        train["lr"] = cfg.finetune_lr
    threads = torch_threads(cfg.threads)
    if threads is not None:
        train["threads"] = threads
    job = hub.json(
        "POST", "/api/v1/jobs", {"kind": "retrain", "dataset": dataset, "model": MODEL, "train": train}
    )
    shown, deadline = 0, time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = hub.json("GET", f"/api/v1/jobs/{job['id']}")
        lines = (job.get("log") or "").splitlines()
        for line in lines[shown:]:
            console.print(f"   [dim]hub:[/] {escape(line)}", highlight=False)
        shown = max(shown, len(lines))
        if job["status"] in ("done", "failed", "cancelled"):
            if job["status"] != "done":
                raise DemoError(f"retrain job {job['id']} {job['status']}: {job.get('error')}")
            result: dict[str, Any] = job["result"]
            return result
        time.sleep(1.0)
    raise DemoError(f"retrain job {job['id']} did not end within {JOB_TIMEOUT_S:.0f} s")


def _score(bundle: Path, test: Any) -> float:
    from edgeloop.evaluate import evaluate
    from edgeloop.predictor import Predictor

    with Predictor(bundle) as predictor:
        metrics = evaluate(predictor, test, progress=False)
    return float(metrics.map50_95)  # type: ignore[union-attr]
