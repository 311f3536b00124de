"""`edgeloop run --models DIR` follows the models folder: a switch mid-run loses no frame's result.

The run writes JSONL to a pipe the test reads: while the test does not read, the pipeline waits on
its sink, so the switch lands in the middle of the video whatever the machine's speed.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgeloop.predictor import Predictor
from edgeloop.stream.frames import FrameResult
from edgeloop.stream.pipeline import Pipeline
from edgeloop.stream.sinks.base import Sink
from edgeloop.stream.sources import open_source
from edgeloop.testing.model_versions import base_bundle, install, switch
from tests.conftest import scene_640x480
from tests.stream.conftest import write_h264

FRAMES = 600


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "still.mp4"
    scene = scene_640x480()
    return write_h264(out, (scene for _ in range(FRAMES)), (640, 480))


def wait_for(log: Path, text: str, proc: subprocess.Popen[str], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"'{text}' not in the run's messages after {timeout_s} s: {log.read_text()}")


def test_run_switches_between_frames_losing_none(video: Path, tmp_path: Path) -> None:
    base = base_bundle(tmp_path)
    models = tmp_path / "models"
    old, new = install(models, base, "1", 1), install(models, base, "2", 2)
    bad = install(models, base, "3", 3, broken=True)
    switch(models, old)
    log = tmp_path / "run.log"
    with log.open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeloop.cli", "run", "--models", str(models), "--source", str(video),
             "--sink", "jsonl:-", "--stats-every", "0", "--summary-json"],
            stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            records = [json.loads(proc.stdout.readline()) for _ in range(30)]
            # The test stops reading: the pipe fills and the run waits on its sink mid-video.
            switch(models, bad)
            wait_for(log, f"version {bad} did not load, {old} keeps serving", proc)
            switch(models, new)
            wait_for(log, f"now serving version {new}", proc)
            records += [json.loads(line) for line in proc.stdout]
            assert proc.wait(60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    frames = [r for r in records if "frame" in r]
    assert [r["frame"] for r in frames] == list(range(FRAMES))  # every frame once, in order
    runs = [(key, len(list(group))) for key, group in itertools.groupby(r["model"] for r in frames)]
    assert [key for key, _ in runs] == [old, new], runs  # the old version, then the new one
    assert all(r["predictions"] for r in frames)  # every result is a complete one
    summary = json.loads(log.read_text().strip().splitlines()[-1])
    assert summary["frames"] == FRAMES and summary["error"] is None
    # the stats file the agent's window reads (complete once the run closed it)
    stats = json.loads((models / "health" / f"run-{proc.pid}.json").read_text())
    assert stats["serving"] == new and stats["closed"] is True
    counted = {key: v["requests"] for key, v in stats["versions"].items()}
    assert counted == {key: n for key, n in runs}, (counted, runs)
    assert "sha256 mismatch" in stats["load_failures"][bad]["error"]


class Frames(Sink):
    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)


def test_pipeline_swaps_under_way_every_frame_once(video: Path, tmp_path: Path) -> None:
    """Swaps while frames are in inference on two workers: each frame still gets one result."""
    base = base_bundle(tmp_path)
    sink = Frames()
    first = Predictor(base)
    pipeline = Pipeline(first, [open_source(str(video), "cam0")], [sink], workers=2, key="v0")
    swapped: list[str] = []
    done = threading.Event()

    def swap_often() -> None:
        for i in itertools.count(1):
            if done.wait(0.02):
                return
            pipeline.swap(Predictor(base), f"v{i}")
            swapped.append(f"v{i}")

    swapper = threading.Thread(target=swap_often)
    swapper.start()
    try:
        summary = pipeline.run()
    finally:
        done.set()
        swapper.join()
        first.close()
    assert summary.error is None
    assert [r.frame.index for r in sink.results] == list(range(FRAMES))
    assert len(swapped) >= 5, swapped
    keys = {r.model for r in sink.results}
    assert keys <= {"v0", *swapped} and len(keys) >= 3, keys
    assert all(len(r.detections) for r in sink.results)
