"""`edgeloop run` as users run it: summary, stdout JSONL, Ctrl-C / SIGTERM within 2 s, bounded give-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle
from tests.conftest import run_cli
from tests.stream.conftest import RtspServer, free_port
from tests.stream.test_sinks import probe_frames
from tests.test_torch_blocked import run_blocked


def test_run_file_with_zones_prints_summary(yolo_bundle: Bundle, clip: Path, tmp_path: Path) -> None:
    zones = tmp_path / "zones.yaml"
    zones.write_text(
        "zones: [{name: right, polygon: [[320, 0], [640, 0], [640, 480], [320, 480]]}]\n"
        "lines: [{name: mid, start: [320, 0], end: [320, 480]}]\n"
    )
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "run", str(yolo_bundle.root), "--source", str(clip), "--sink", f"jsonl:{out}",
        "--sink", f"video:{tmp_path / 'out.mp4'}", "--zones", str(zones),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "ended after" in result.stderr and "100 frames" in result.stderr
    assert "cam0 line mid: in 0, out 1" in result.stderr  # the clip's red square crosses once
    assert "cam0 zone right: 1 entries, 1 inside now" in result.stderr
    assert probe_frames(tmp_path / "out.mp4") == 100
    assert sum("frame" in json.loads(line) for line in out.read_text().splitlines()) == 100


def test_run_jsonl_to_stdout(yolo_bundle: Bundle, clip: Path) -> None:
    result = run_cli("run", str(yolo_bundle.root), "-s", str(clip), "--sink", "jsonl:-", "--max-fps", "5")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == list(range(0, 100, 5))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_signal_stops_within_2s_with_complete_files(
    yolo_bundle: Bundle, rtsp_server: RtspServer, tmp_path: Path, signum: int
) -> None:
    out, video = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeloop.cli", "run", str(yolo_bundle.root), "--source", rtsp_server.url,
         "--sink", f"jsonl:{out}", "--sink", f"video:{video}"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 15):
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    assert took < 2.0, f"took {took:.2f} s to stop"
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    text = out.read_text()
    assert text.endswith("\n")
    frames = [r for r in map(json.loads, text.splitlines()) if "frame" in r]
    assert len(frames) >= 14
    assert probe_frames(video) == len(frames), "the mp4 is finalised and holds every processed frame"


@pytest.mark.alone  # asserts a latency of seconds: not beside another test
def test_source_that_never_comes_up_ends_run_with_clear_error(yolo_bundle: Bundle) -> None:
    started = time.monotonic()
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    result = run_cli("run", str(yolo_bundle.root), "--source", url, "--connect-timeout", "1")
    assert result.returncode == 1
    assert f"error: cam0: could not connect to {url} within 1." in result.stderr
    assert time.monotonic() - started < 10


def test_run_imports_without_torch(yolo_bundle: Bundle, clip: Path) -> None:
    code = f"""
sys.argv = ["edgeloop", "run", {str(yolo_bundle.root)!r}, "-s", {str(clip)!r}, "--max-fps", "1",
            "--zones", "/dev/null", "--sink", "jsonl:-"]
import edgeloop.stream.sinks.mqtt, edgeloop.stream.sinks.webhook, edgeloop.stream.zones
from edgeloop.cli.main import main
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
assert "torch" not in sys.modules
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4


def test_run_classes_by_name_and_checked(yolo_bundle: Bundle, clip: Path) -> None:
    """`run --classes` filters like `predict --classes`: names or ids, checked against the model."""
    args = ["run", str(yolo_bundle.root), "-s", str(clip), "--sink", "jsonl:-", "--max-fps", "5"]
    kept = run_cli(*args, "--classes", "red")
    assert kept.returncode == 0, kept.stderr
    assert all(len(json.loads(line)["predictions"]) == 1 for line in kept.stdout.splitlines())
    other = run_cli(*args, "--classes", "blue,green")
    assert other.returncode == 0, other.stderr
    assert all(json.loads(line)["predictions"] == [] for line in other.stdout.splitlines())
    bad = run_cli(*args, "--classes", "circle")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "error: --classes: unknown class 'circle'; this model's classes are 0 red, 1 green, 2 blue" in (
        bad.stderr
    )


def test_missing_source_file_is_named_before_the_model_loads(yolo_bundle: Bundle, tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    result = run_cli("run", str(yolo_bundle.root), "--source", str(missing))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {missing}: no such file or folder ({missing}); check the path (or give a stream URL "
        "such as rtsp://HOST/PATH, a camera index or /dev/videoN)"
    ]
    # checked before the bundle is even read: a missing bundle is not what gets reported
    result = run_cli("run", str(tmp_path / "no-bundle"), "--source", str(missing))
    assert result.returncode == 1 and f"{missing}: no such file or folder" in result.stderr
