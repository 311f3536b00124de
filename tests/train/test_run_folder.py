"""``edgeloop train`` never loses a run: existing run folders, ``--resume`` arguments, spent budgets."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgeloop.data.synth import synth_detection
from tests.conftest import run_cli

FAST = ["--imgsz", "64", "--batch", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    synth_detection(root / "train", images=16, size=64, seed=1)
    synth_detection(root / "val", images=4, size=64, seed=2)
    return root


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run."""
    out = tmp_path_factory.mktemp("run-folder") / "run"  # its own folder: other modules train into theirs
    result = run_cli("train", str(data), "--out", str(out), "--epochs", "1", *FAST)
    assert result.returncode == 0, result.stderr
    return out


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and proof that the file is a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_train_writes_a_training_chart(run: Path) -> None:
    width, height = png_size(run / "results.png")
    assert width >= 600 and height >= 300


def test_train_refuses_to_overwrite_a_run_without_force(run: Path, data: Path) -> None:
    before = (run / "weights" / "last.pt").read_bytes()
    again = run_cli("train", str(data), "--out", str(run), "--epochs", "1", *FAST)
    assert again.returncode == 1
    assert "--force" in again.stderr and f"--resume {run}" in again.stderr
    assert "Traceback" not in again.stderr
    assert (run / "weights" / "last.pt").read_bytes() == before


def test_train_refuses_a_non_empty_folder_that_is_no_run(data: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    refused = run_cli("train", str(data), "--out", str(tmp_path), *FAST)
    assert refused.returncode == 1 and "--force" in refused.stderr and "not empty" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_force_trains_over_a_run_and_keeps_other_files(run: Path, data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "notes.txt").write_text("mine")
    forced = run_cli("train", str(data), "--out", str(copy), "--epochs", "1", "--seed", "3", "--force", *FAST)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((copy / "args.json").read_text())["seed"] == 3
    assert (copy / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["DATA", "--out", "OTHER"], "continues on its own dataset"),
        (["--out", "OTHER"], "writes into"),
        (
            ["--imgsz", "96", "--model", "small"],
            "--model small (the run has nano), --imgsz 96 (the run has 64)",
        ),
    ],
)
def test_resume_refuses_arguments_that_disagree_with_the_run(
    run: Path, tmp_path: Path, extra: list[str], expected: str
) -> None:
    other, elsewhere = tmp_path / "other", tmp_path / "data"
    synth_detection(elsewhere, images=2, size=64, seed=5)
    args = [{"DATA": str(elsewhere), "OTHER": str(other)}.get(a, a) for a in extra]
    result = run_cli("train", "--resume", str(run), *args)
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not other.exists()


def test_resume_accepts_the_run_s_own_data_and_folder(run: Path, data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "moved"
    shutil.copytree(run, copy)  # args.json still names the original folder
    result = run_cli("train", "--resume", str(copy), str(data), "--out", str(copy), "--epochs", "2", *FAST)
    assert result.returncode == 0, result.stderr
    assert "resumed" in result.stderr
    assert (copy / "results.csv").read_text().count("\n") == 3  # header and epochs 1, 2
    assert json.loads((copy / "args.json").read_text())["out"] == str(copy)


def test_resume_of_a_finished_run_says_how_to_extend_it(run: Path) -> None:
    result = run_cli("train", "--resume", str(run))
    assert result.returncode == 1
    assert "already trained its 1 epochs" in result.stderr and "--epochs 2" in result.stderr


def test_resume_of_a_spent_time_budget_says_how_to_extend_it(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "timed"
    first = run_cli(
        "train", str(data), "--out", str(out), "--time", "1", "--epochs", "500", "--patience", "500", *FAST
    )
    assert first.returncode == 0 and "time budget spent" in first.stderr, first.stderr
    assert f"to train on: edgeloop train --resume {out} --time " in first.stderr
    spent = run_cli("train", "--resume", str(out))
    assert spent.returncode == 1
    assert "already spent its time budget" in spent.stderr and "--time" in spent.stderr
    assert "pass more than" in spent.stderr
    short = run_cli("train", "--resume", str(out), "--time", "1")
    assert short.returncode == 1 and "pass more than" in short.stderr
    epochs = len((out / "results.csv").read_text().splitlines())
    spent_s = re.search(r"pass more than ([0-9.]+)", spent.stderr)
    assert spent_s is not None
    longer = run_cli("train", "--resume", str(out), "--time", f"{float(spent_s.group(1)) + 2:.1f}")
    assert longer.returncode == 0, longer.stderr
    assert len((out / "results.csv").read_text().splitlines()) > epochs


def test_export_warns_when_the_model_finds_nothing(run: Path, tmp_path: Path) -> None:
    """One epoch on 16 images: nothing scores above the bundle's default threshold."""
    exported = run_cli("export", str(run), "--out", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr
    warning = next(line for line in exported.stderr.splitlines() if line.startswith("warning:"))
    assert "finds nothing on 4 of 4 validation images with objects (100%)" in warning
    assert "--conf" in warning and f"--resume {run}" in warning
    assert exported.stdout.strip() == str(tmp_path / "bundle")  # still a bundle, still usable
