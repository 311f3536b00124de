"""--backend, --device and --threads: one option group, the same meaning on every command."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import httpx
import pytest

from edgeloop.bundle import Bundle
from tests.conftest import run_cli, scene_640x480
from tests.serve.conftest import start_server


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), scene_640x480())
    return path


def _boxes(stdout: str) -> list[tuple[str, float, float]]:
    record = json.loads(stdout.splitlines()[0])
    return [(p["class"], round(p["x"]), round(p["y"])) for p in record["predictions"]]


def test_predict_on_openvino_with_threads_matches_onnxruntime(yolo_bundle: Bundle, image: Path) -> None:
    ort = run_cli("predict", str(yolo_bundle.root), str(image), "--json", "--threads", "1")
    ov = run_cli(
        "predict", str(yolo_bundle.root), str(image), "--json",
        "--backend", "openvino", "--device", "cpu", "--threads", "1",
    )  # fmt: skip
    assert ort.returncode == 0 and ov.returncode == 0, ort.stderr + ov.stderr
    assert _boxes(ov.stdout) == _boxes(ort.stdout) and _boxes(ort.stdout)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backend", "tensorrt", "--threads", "2"], "--threads: backend 'tensorrt' cannot set"),
        (["--device", "gpu"], "--device: invalid backend 'onnxruntime': setting 'device': 'gpu' is not"),
        (["--backend", "tpu9"], "--backend: unknown backend 'tpu9'; choose one of onnxruntime, openvino"),
        (["--backend", "null", "--device", "cuda"], "--device: backend 'null' has no device"),
    ],
)
def test_bad_backend_flags_name_the_flag(
    flags: list[str], message: str, yolo_bundle: Bundle, image: Path
) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(image), *flags)
    assert result.returncode == 1
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr


def test_eval_and_bench_refuse_threads_for_tensorrt(yolo_bundle: Bundle, tmp_path: Path) -> None:
    for args in (
        ["eval", str(yolo_bundle.root), str(tmp_path), "--backend", "tensorrt", "--threads", "1"],
        ["bench", str(yolo_bundle.root), "--backend", "tensorrt", "--threads", "1"],
        ["run", str(yolo_bundle.root), "--source", "x.mp4", "--backend", "tensorrt", "--threads", "1"],
        ["serve", str(yolo_bundle.root), "--backend", "tensorrt", "--threads", "1"],
    ):
        result = run_cli(*args)
        assert result.returncode == 1, args
        assert "--threads: backend 'tensorrt' cannot set" in result.stderr.replace("\n", " "), args


def test_serve_runs_on_the_backend_asked_for(yolo_bundle: Bundle, image: Path, tmp_path: Path) -> None:
    expected = run_cli("predict", str(yolo_bundle.root), str(image), "--json")
    srv = start_server([yolo_bundle.root], tmp_path / "log", "--backend", "openvino", "--threads", "1")
    try:
        url = f"{srv.url}/v1/models/colour-yolo/predict"
        body = httpx.post(url, content=image.read_bytes(), headers={"Content-Type": "image/png"}).json()
    finally:
        srv.stop()
    got = [(p["class"], round(p["x"]), round(p["y"])) for p in body["predictions"]]
    assert got == _boxes(expected.stdout) and got
    assert "openvino" in (tmp_path / "log").read_text()
