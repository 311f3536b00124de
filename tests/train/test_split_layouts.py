"""Training reads the splits a dataset declares, so `eval`'s default split is training's validation set."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from edgeloop.data.formats import save_dataset
from edgeloop.data.synth import synth_detection
from edgeloop.train.config import TrainConfig
from edgeloop.train.split import train_val


def test_train_uses_the_splits_of_an_ultralytics_data_yaml(tmp_path: Path) -> None:
    train = synth_detection(tmp_path / "a", images=6, size=64, seed=1)
    val = synth_detection(tmp_path / "b", images=3, size=64, seed=2)
    items = [replace(i, name=f"train/{i.name}") for i in train.items]
    items += [replace(i, name=f"val/v{i.name}") for i in val.items]
    save_dataset(replace(train, items=tuple(items)), tmp_path / "u", "yolo")
    config = {"path": ".", "train": "images/train", "val": "images/val", "names": list(train.names)}
    (tmp_path / "u" / "data.yaml").write_text(yaml.safe_dump(config))
    got_train, got_val = train_val(TrainConfig(data=str(tmp_path / "u"), out=str(tmp_path / "run")))
    assert [i.name for i in got_val.items] == [f"val/v{i.name}" for i in val.items]
    assert len(got_train) == 6 and all(i.name.startswith("train/") for i in got_train.items)
