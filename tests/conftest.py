"""Shared fixtures: synthetic models, bundles and images made on the spot."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import colour_detector

RED_BGR = (0, 0, 255)
GREEN_BGR = (0, 255, 0)


# Under pytest-xdist (`make test` runs `pytest -n 2 --dist loadfile`), each worker is its own
# session: session fixtures (servers on free loopback ports, temporary folders under the worker's
# basetemp) exist once per worker, and a module's tests stay on one worker, so an expensive module
# fixture (a training run, a venv install) is built once. (Not loadgroup: pytest 9.2 keeps a node's
# id in `_id`, and xdist 3.8 still renames `_nodeid`, so xdist_group marks group nothing.)
# A test marked `alone` (it asserts a latency of a second or two) runs while the other worker waits
# between tests: a file lock in the run's shared basetemp, shared by every other test, exclusive for
# these (a turnstile lock first, so a waiting `alone` test is not starved by the other worker).


@contextlib.contextmanager
def _cpu_share(item: pytest.Item) -> Iterator[None]:
    worker_temp = getattr(item.config, "workerinput", None) and item.config.option.basetemp
    if not worker_temp:
        yield
        return
    shared = Path(worker_temp).parent  # the run's basetemp; each worker has a folder inside it
    alone = item.get_closest_marker("alone") is not None
    with (shared / "cpu.turn").open("a") as turn, (shared / "cpu.lock").open("a") as lock:
        began = time.monotonic()
        fcntl.flock(turn, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
        waited = time.monotonic() - began
        if waited >= 0.05:  # the test's reports carry it to the controller's summary
            item.user_properties.append(("cpu_wait_s", round(waited, 2)))
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: pytest-timeout's clock starts after the wait
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    with _cpu_share(item):
        yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How long the workers stood idle for `alone` tests (their wait is in no test's duration)."""
    waits = [
        (report, float(value))
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "setup"
        for name, value in getattr(report, "user_properties", ())
        if name == "cpu_wait_s"
    ]
    if waits:
        alone = sum(1 for report, _ in waits if "alone" in report.keywords)
        terminalreporter.write_line(
            f"xdist workers waited {sum(w for _, w in waits):.1f} s for the cpu lock "
            f"({len(waits)} tests, {alone} of them `alone`; tests/conftest.py)"
        )


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _bundle(models_dir: Path, family: str) -> Bundle:
    if (models_dir / f"bundle-{family}").exists():
        return load_bundle(models_dir / f"bundle-{family}")
    model = colour_detector(models_dir / f"colour-{family}.onnx", imgsz=(640, 640), stride=32, family=family)
    return import_onnx(model, models_dir / f"bundle-{family}")


@pytest.fixture(scope="session")
def yolo_bundle(models_dir: Path) -> Bundle:
    return _bundle(models_dir, "yolo")


@pytest.fixture(scope="session", params=["yolo", "yolov5", "yolo-e2e"])
def detector_bundle(request: pytest.FixtureRequest, models_dir: Path) -> Bundle:
    return _bundle(models_dir, request.param)


@pytest.fixture(scope="session")
def classify_bundle(models_dir: Path) -> Bundle:
    return _bundle(models_dir, "classify")


def scene_640x480() -> np.ndarray:
    """Grey 640x480 BGR image: a red square at x 64..192, y 48..176 and a green one at x 352..480, y 240..336.

    Letterboxed to 640x640 the image moves down 80 px, so both squares land
    exactly on the colour detector's 32 px cells.
    """
    image = np.full((480, 640, 3), 128, np.uint8)
    image[48:176, 64:192] = RED_BGR
    image[240:336, 352:480] = GREEN_BGR
    return image


@pytest.fixture()
def scene_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"  # lossless, so cell colours stay pure
    cv2.imwrite(str(path), scene_640x480())
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `edgeloop` command in a subprocess.

    The timeout only catches a hung command (pytest-timeout stops a test at 300 s): with a second
    xdist worker on a 2-core machine, the demo's training took longer than the 120 s it had.
    """
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=cwd,
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest modules first, so the xdist workers end together (tests/schedule.py)."""
    from tests.schedule import slowest_modules_first

    items[:] = slowest_modules_first([item.nodeid for item in items], items)
