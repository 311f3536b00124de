"""`edgeloop capture`: collecting before any model exists, from one or several sources."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgeloop.improve import Spool
from tests.conftest import run_cli

SCENE = "samplers: [{type: scene_change, full_change: 0.02, tags: [first-data]}]\nbudget: {max_count: 500}\n"


def test_capture_two_sources_model_free(clip: Path, long_clip: Path, tmp_path: Path) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(SCENE)
    args = ["capture", "--source", str(clip), "--source", str(long_clip), "--max-fps", "5"]
    result = run_cli(*args, "--spool", str(spool), "--policy", str(policy), "--summary-json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    sources = summary["sources"]
    # file sources: every frame (a 5 fps subsample here) is offered, none skipped
    assert (sources["cam0"]["frames"], sources["cam1"]["frames"]) == (20, 300)
    counters = summary["counters"]
    drops = sum(v for k, v in counters.items() if k.startswith("dropped:"))
    assert counters["offered"] == 320 and counters["kept"] + drops == 320
    assert counters["kept"] == sources["cam0"]["kept"] + sources["cam1"]["kept"] == summary["held"]
    assert sources["cam0"]["kept"] >= 2  # the square crosses the frame: the scene changes
    with Spool(spool) as reopened:
        samples = reopened.samples()
        assert reopened.verify() == [] and reopened.counters()["offered"] == 320
    assert len(samples) == counters["kept"]
    assert all(s.record.sampler == "scene_change" and s.record.model_name == "" for s in samples)
    assert all(
        s.record.tags == ("first-data",) and s.record.predictions["predictions"] == [] for s in samples
    )


def test_model_free_capture_refuses_what_needs_a_model(clip: Path, tmp_path: Path) -> None:
    policy, spool = tmp_path / "policy.yaml", str(tmp_path / "spool")
    policy.write_text("samplers: [{type: random}]\nprivacy: {blur_classes: [person]}\n")
    result = run_cli("capture", "--source", str(clip), "--spool", spool, "--policy", str(policy))
    assert result.returncode == 1
    assert "privacy.blur_classes: needs a model's detections" in result.stderr
    policy.write_text("samplers: [{type: close_to_threshold}]\n")
    result = run_cli("capture", "--source", str(clip), "--spool", spool, "--policy", str(policy))
    assert result.returncode == 1 and "samplers.0.type: 'close_to_threshold' needs a model" in result.stderr
    assert not Path(spool).exists(), "refused before anything is written"


def test_capture_stops_cleanly_on_sigterm(long_clip: Path, tmp_path: Path) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text("samplers: [{type: random, min_score: 0.0}]\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeloop.cli", "capture", "-s", str(long_clip), "--spool", str(spool),
         "--policy", str(policy)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((spool / "images").glob("*.jpg"))) < 5:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    assert "stopped by SIGTERM" in stderr and "capture into the spool: offered" in stderr
    with Spool(spool) as reopened:
        assert reopened.verify() == [] and reopened.reconciled.get("temp_files_removed", 0) == 0
        counters, held = reopened.counters(), len(reopened.samples())
    assert counters["kept"] == held >= 5
