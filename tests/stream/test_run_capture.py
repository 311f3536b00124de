"""`edgeloop run --capture POLICY --spool DIR`: every frame offered to one Capture, inference unaffected."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from edgeloop.bundle import Bundle
from edgeloop.improve import Spool, policy_from_dict
from edgeloop.improve.capture import Capture
from edgeloop.improve.hook import CaptureHook
from edgeloop.predictor import Predictor
from edgeloop.stream.pipeline import Pipeline
from edgeloop.stream.sinks.capture import CaptureSink
from edgeloop.stream.sources import VideoFileSource
from edgeloop.testing.run_capture_faults import run_kill_rounds
from tests.conftest import run_cli

KEEP_HALF = "samplers: [{type: random, min_score: 0.5, tags: [half]}]\nseed: 4\n"


def test_run_capture_counts_every_frame_and_stores_predictions(
    yolo_bundle: Bundle, clip: Path, tmp_path: Path
) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(KEEP_HALF)
    args = ["run", str(yolo_bundle.root), "--source", str(clip), "--capture", str(policy)]
    result = run_cli(*args, "--spool", str(spool), "--device-id", "line-3", "--summary-json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["frames"] == 100
    counters = summary["capture"][str(spool)]
    # every frame was offered, or skipped (counted) while the capture thread was busy
    assert counters["offered"] + counters["skipped:busy"] == 100
    drops = sum(v for k, v in counters.items() if k.startswith("dropped:"))
    assert counters["kept"] + drops == counters["offered"] and counters["kept"] > 0
    assert counters["errors"] == 0
    with Spool(spool) as reopened:
        assert reopened.verify() == [] and reopened.integrity() == "ok"
        stored = reopened.counters()
        samples = reopened.samples()
    assert {k: stored[k] for k in ("offered", "kept")} == {k: counters[k] for k in ("offered", "kept")}
    assert len(samples) == counters["held"] == counters["kept"]
    manifest = yolo_bundle.manifest
    for sample in samples:
        record = sample.record
        assert (record.device_id, record.model_name, record.model_version) == (
            "line-3",
            manifest.name,
            str(manifest.version),
        )
        assert record.sampler == "random" and record.tags == ("half",)
        assert [p["class"] for p in record.predictions["predictions"]] == ["red"]  # one square per frame


def test_run_prints_capture_counters(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(KEEP_HALF)
    args = ["run", str(yolo_bundle.root), "--source", str(clip), "--max-fps", "5"]
    result = run_cli(*args, "--capture", str(policy), "--spool", str(tmp_path / "spool"))
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if "capture into" in x)
    assert all(word in line for word in ("offered ", "kept ", "dropped ", "spool holds "))


def test_capture_needs_a_spool_and_a_valid_policy(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("samplers: [{type: random, bnad: 1}]\n")
    result = run_cli("run", str(yolo_bundle.root), "--source", str(clip), "--capture", str(policy))
    assert result.returncode == 1
    assert "capture needs both --capture POLICY.yaml and --spool DIR: add --spool DIR" in result.stderr
    spool = str(tmp_path / "spool")
    result = run_cli(
        "run", str(yolo_bundle.root), "-s", str(clip), "--capture", str(policy), "--spool", spool
    )
    assert result.returncode == 1 and "samplers.0.bnad: unknown key" in result.stderr


def test_capture_io_errors_never_stop_inference(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    """The spool's images folder turns into a file after opening: every write fails, the run goes on."""
    spool = tmp_path / "spool"
    policy = policy_from_dict({"samplers": [{"type": "random", "min_score": 0.0}]})
    sink = CaptureSink(spool, policy)
    with Predictor(yolo_bundle) as predictor, sink:
        shutil.rmtree(spool / "images")
        (spool / "images").write_text("not a folder")
        summary = Pipeline(predictor, [VideoFileSource(clip, "cam0")], [sink]).run()
    assert summary.error is None and summary.frames == 100
    counters = sink.counters()
    assert counters["kept"] == 0 and counters["dropped:io_error"] == counters["offered"] > 0
    assert counters["offered"] + counters["skipped:busy"] == 100


def test_hook_counts_an_error_and_goes_on(tmp_path: Path) -> None:
    policy = policy_from_dict({"samplers": [{"type": "random", "min_score": 0.0}]})
    with CaptureHook(Capture(policy, Spool(tmp_path / "spool"))) as hook:
        assert hook.submit(np.zeros((4, 4), np.float32), None)  # not an image: offer raises
        assert hook.submit(np.full((32, 32, 3), 7, np.uint8), None)
        deadline = time.monotonic() + 10
        while hook.counters().get("offered", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    counters = hook.counters()
    assert counters["errors"] == 1 and counters["kept"] == 1
    assert hook.last_error is not None and "ImageError" in hook.last_error
    assert not hook.submit(np.full((32, 32, 3), 8, np.uint8), None)  # closed: refused, not raised


def test_kill_9_during_run_capture_loses_nothing(
    yolo_bundle: Bundle, long_clip: Path, tmp_path: Path
) -> None:
    """10 kills of the real command at full pipeline speed (benchmarks/capture_faults.py --target run)."""
    report = run_kill_rounds(tmp_path, yolo_bundle.root, long_clip, kills=10, seed=1)
    print(report)  # the counts, with -s
    assert report.crashed == 0 and report.kills + report.ended_before_kill == 10
    assert report.kills >= 8 and report.acknowledged > 0
    assert (report.lost, report.corrupt, report.orphans, report.temp_files) == (0, 0, 0, 0)
    assert report.integrity_failures == 0 and report.rows_without_file == 0
    assert report.counter_mismatches == []
