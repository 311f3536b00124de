"""`edgeloop eval` end to end: a real subprocess, a real bundle, datasets on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle
from tests.conftest import run_cli
from tests.evaluate.conftest import EXPECTED_MAP50, EXPECTED_MAP50_95


def test_eval_json_with_python_m_edgeloop(yolo_bundle: Bundle, colour_yolo: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgeloop", "eval", str(yolo_bundle.root), str(colour_yolo), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # one JSON object; the table and progress went to stderr
    report = json.loads(lines[0])
    assert report["task"] == "detect" and report["images"] == 4
    assert report["map50"] == pytest.approx(EXPECTED_MAP50, abs=1e-5)
    assert report["map50_95"] == pytest.approx(EXPECTED_MAP50_95, abs=1e-5)
    assert report["per_class"]["blue"] == {"ap50": 1.0, "ap50_95": 0.3, "instances": 1}
    assert report["settings"] == {"conf": 0.001, "iou": 0.7, "max_det": 300, "backend": "onnxruntime"}
    assert "AP50-95" in result.stderr and "green" in result.stderr


def test_eval_table_and_plots(yolo_bundle: Bundle, colour_yolo: Path, tmp_path: Path) -> None:
    result = run_cli("eval", str(yolo_bundle.root), str(colour_yolo), "--plots", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    all_row = next(line for line in result.stderr.splitlines() if line.startswith("all"))
    assert all_row.split() == ["all", "4", f"{EXPECTED_MAP50:.3f}", f"{EXPECTED_MAP50_95:.3f}"]
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == ["confusion_matrix.png", "pr_curve.png", "worst_boxes.png"]


def test_eval_classifier(classify_bundle: Bundle, colour_folders: Path, tmp_path: Path) -> None:
    result = run_cli(
        "eval", str(classify_bundle.root), str(colour_folders), "--json", "--plots", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["task"] == "classify"
    assert report["top1"] == pytest.approx(6 / 7, abs=1e-5)
    assert report["confusion"] == [[1, 0, 0], [1, 2, 0], [0, 0, 3]]
    assert (tmp_path / "confusion_matrix.png").is_file()
    assert "top-1" in result.stderr


def test_eval_errors_are_one_line(
    yolo_bundle: Bundle, classify_bundle: Bundle, colour_yolo: Path, colour_folders: Path, tmp_path: Path
) -> None:
    task = run_cli("eval", str(yolo_bundle.root), str(colour_folders))
    assert task.returncode == 1
    assert task.stderr.startswith("error: the model is a detect model and the dataset a classify dataset")
    assert "Traceback" not in task.stderr
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for child in colour_folders.iterdir():
        (renamed / ("yellow" if child.name == "blue" else child.name)).symlink_to(child)
    names = run_cli("eval", str(classify_bundle.root), str(renamed))
    assert names.returncode == 1
    assert "dataset classes the model lacks: yellow" in names.stderr
    assert "model classes the dataset lacks: blue" in names.stderr
    missing = run_cli("eval", str(yolo_bundle.root), str(tmp_path / "nope"))
    assert missing.returncode == 1 and "no such dataset folder" in missing.stderr
