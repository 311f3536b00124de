"""``edgeloop train --init --freeze --replay --replay-share``: flags, what the user sees, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgeloop.data.synth import DOMAIN_B, synth_detection
from edgeloop.errors import ConfigError
from edgeloop.train.config import TrainConfig
from edgeloop.train.loop import Trainer
from edgeloop.train.runs import resume_values
from tests.conftest import run_cli

TINY = ["--batch", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(parent run, its dataset, new data with a new class in domain B)."""
    root = tmp_path_factory.mktemp("ftcli")
    for folder, seed, names, domain in (
        ("old", 1, ("square", "circle"), None),
        ("new", 2, ("circle", "star"), DOMAIN_B),
    ):
        kwargs = {"domain": domain} if domain else {}
        synth_detection(root / folder / "train", 16, 64, seed=seed, classes=names, **kwargs)  # type: ignore[arg-type]
        synth_detection(root / folder / "val", 4, 64, seed=seed + 10, classes=names, **kwargs)  # type: ignore[arg-type]
    config = TrainConfig(data=str(root / "old"), out=str(root / "parent"), epochs=1, imgsz=64, threads=1)
    Trainer(config).fit()
    return root / "parent", root / "old", root / "new"


def test_train_init_flags_reach_the_run(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    parent, old, new = setup
    out = tmp_path / "run"
    result = run_cli(
        "train", str(new), "--out", str(out), "--init", str(parent), "--epochs", "1",
        "--replay", str(old), "--replay-share", "0.5", "--freeze", "0.5", *TINY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "fine-tuning from" in result.stderr and "new: star" in result.stderr
    assert "replay: 16 of 16 images" in result.stderr
    args = json.loads((out / "args.json").read_text())
    assert args["init"] == str(parent) and args["replay"] == str(old)
    assert (args["lr"], args["freeze"], args["replay_share"], args["imgsz"]) == (0.0005, 0.5, 0.5, 64)
    # The run resumes with its own settings; --init cannot be changed on resume.
    resumed = run_cli("train", "--resume", str(out), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished after 2 epochs" in resumed.stderr
    with pytest.raises(ConfigError, match="keeps the run's settings: --init"):
        resume_values(out, None, None, {"init": str(tmp_path), "epochs": 3})


def _one_line_error(*args: str) -> str:
    result = run_cli("train", *args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_init_errors_are_one_line(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from edgeloop.importer import import_onnx
    from edgeloop.testing.onnx_models import colour_detector

    parent, _, new = setup
    missing = _one_line_error(str(new), "--out", str(tmp_path / "a"), "--init", str(tmp_path / "nope"))
    assert "--init" in missing and "not found" in missing
    import_onnx(colour_detector(tmp_path / "m.onnx", imgsz=(64, 64)), tmp_path / "imported")
    onnx = _one_line_error(str(new), "--out", str(tmp_path / "b"), "--init", str(tmp_path / "imported"))
    assert (
        "imported from ONNX and has no training weights" in onnx and "edgeloop train DATA --out RUN" in onnx
    )
    share = _one_line_error(
        str(new), "--out", str(tmp_path / "c"), "--init", str(parent), "--replay-share", "1"
    )
    assert "--replay-share" in share
