"""``edgeloop train`` and ``edgeloop export`` end to end, on a tiny synthetic set."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgeloop.bundle import load_bundle
from edgeloop.data.synth import synth_detection
from tests.conftest import run_cli

TINY = ["--imgsz", "96", "--batch", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    synth_detection(root / "train", images=48, size=96, seed=1)
    synth_detection(root / "val", images=12, size=96, seed=2)
    return root


@pytest.fixture(scope="module")
def run(data: Path) -> Path:
    out = data.parent / "run"
    result = run_cli("train", str(data), "--out", str(out), "--epochs", "4", *TINY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "finished after 4 epochs" in result.stderr
    return out


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_train_writes_checkpoints_and_results(run: Path) -> None:
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1.0", "2.0", "3.0", "4.0"]
    assert {"map50", "map50_95", "loss", "lr"} <= set(rows[0])
    assert (run / "weights" / "best.pt").is_file() and (run / "weights" / "last.pt").is_file()
    assert json.loads((run / "args.json").read_text())["imgsz"] == 96


def test_export_then_eval_reproduces_the_training_validation(run: Path, data: Path, tmp_path: Path) -> None:
    exported = run_cli("export", str(run), "--out", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr
    assert "max abs diff" in exported.stderr
    bundle = load_bundle(tmp_path / "bundle")  # verifies every sha256
    m = bundle.manifest
    assert (m.task, m.family, m.names) == ("detect", "yolo", ["square", "circle", "triangle"])
    assert m.input.size_hw == (96, 96) and len(m.samples) == 3
    assert m.provenance.dataset_fingerprint
    best = max(float(r["map50_95"]) for r in _rows(run))
    assert m.metrics["map50_95"] == pytest.approx(best, abs=1e-6)
    evaluated = run_cli("eval", str(tmp_path / "bundle"), str(data / "val"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    # The device's Predictor on the ONNX file gets the number training printed.
    assert report["map50_95"] == pytest.approx(m.metrics["map50_95"], abs=0.005)
    assert report["map50"] == pytest.approx(m.metrics["map50"], abs=0.005)
    samples = run_cli("bundle", "check", str(tmp_path / "bundle"))
    assert samples.returncode == 0, samples.stderr


def test_resume_continues_the_run(run: Path, data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    args = json.loads((copy / "args.json").read_text())
    args["out"] = str(copy)
    (copy / "args.json").write_text(json.dumps(args))
    result = run_cli("train", "--resume", str(copy), "--epochs", "5")
    assert result.returncode == 0, result.stderr
    assert "resumed" in result.stderr
    assert [r["epoch"] for r in _rows(copy)][-2:] == ["4.0", "5.0"]


def test_time_budget_ends_training_gracefully(data: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    result = run_cli(
        "train", str(data), "--out", str(tmp_path / "run"), "--epochs", "500", "--time", "4", *TINY,
        "--patience", "1000",  # on a fast machine, tiny epochs could reach patience before the budget
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "time budget spent" in result.stderr
    assert time.perf_counter() - started < 60
    assert (tmp_path / "run" / "weights" / "last.pt").is_file()


def test_ctrl_c_keeps_a_checkpoint_that_exports(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeloop.cli",
            "train",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "500",
            *TINY,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        # Ctrl-C as at a terminal, even when the tests run as a background job (which ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 90
    while not (out / "weights" / "best.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    exported = run_cli("export", str(out), "--out", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr


def test_errors_are_one_line(tmp_path: Path, data: Path) -> None:
    missing = run_cli("export", str(tmp_path / "nothing"), "--out", str(tmp_path / "b"))
    assert missing.returncode == 1 and "no checkpoint" in missing.stderr
    bad = run_cli("train", str(data), "--out", str(tmp_path / "r"), "--imgsz", "100")
    assert bad.returncode == 1 and "multiple of 32" in bad.stderr
    hostile = tmp_path / "evil" / "weights"
    hostile.mkdir(parents=True)
    import torch

    torch.save({"model": {}, "config": {}, "payload": ValueError("not a tensor")}, hostile / "best.pt")
    refused = run_cli("export", str(tmp_path / "evil"), "--out", str(tmp_path / "b2"))
    assert refused.returncode == 1 and "not a readable edgeloop checkpoint" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_classifier_trains_exports_and_evaluates(tmp_path: Path) -> None:
    from edgeloop.data.synth import synth_classification

    synth_classification(tmp_path / "data" / "train", images=24, size=64, seed=0)
    synth_classification(tmp_path / "data" / "val", images=9, size=64, seed=1)
    trained = run_cli(
        "train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "2",
        "--imgsz", "64", "--batch", "8", "--threads", "1",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "top1" in (tmp_path / "run" / "results.csv").read_text().splitlines()[0]
    exported = run_cli("export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr
    manifest = load_bundle(tmp_path / "bundle").manifest
    assert (manifest.task, manifest.family) == ("classify", "classify")
    evaluated = run_cli("eval", str(tmp_path / "bundle"), str(tmp_path / "data" / "val"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["top1"] == pytest.approx(manifest.metrics["top1"], abs=1e-6)


def test_optimize_takes_an_exported_bundle_and_leaves_no_files_behind(
    run: Path, data: Path, tmp_path: Path
) -> None:
    """Exports have a dynamic batch axis, where ONNX Runtime's symbolic shape inference gives up
    (and dumps files into the working directory); optimize must still work and stay clean."""
    assert run_cli("export", str(run), "--out", str(tmp_path / "bundle")).returncode == 0
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = run_cli(
        "optimize", str(tmp_path / "bundle"), "--int8", "--calib", str(data / "train"),
        "--calib-images", "8", "--out", str(tmp_path / "int8"), cwd=cwd,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert any(v.precision == "int8" for v in load_bundle(tmp_path / "int8").manifest.variants)
    assert list(cwd.iterdir()) == []
