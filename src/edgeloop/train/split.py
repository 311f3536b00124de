"""Find the training and validation sets of a dataset folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import load_dataset
from edgeloop.data.splits import available_splits, load_split
from edgeloop.errors import TrainError
from edgeloop.train.config import TrainConfig


def train_val(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """``DATA/train`` and ``DATA/val``, or the splits a YOLO data.yaml declares, else a seeded split.

    Raises:
        TrainError: the subsets disagree on classes or task, or a set is empty.
    """
    root = Path(config.data)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = load_dataset(root / "train"), load_dataset(root / "val")
        if (train.names, train.task) != (val.names, val.task):
            raise TrainError(
                f"{root}: train/ and val/ have different classes or tasks "
                f"({list(train.names)} vs {list(val.names)}); give both the same class list"
            )
    elif {"train", "val"} <= set(available_splits(root)):  # a data.yaml naming images/train and images/val
        train, val = load_split(root, "train").dataset, load_split(root, "val").dataset
    else:
        train, val = split(load_dataset(root), config.val_fraction, config.seed)
    if config.task is not None and train.task != config.task:
        raise TrainError(f"{root} is a {train.task} dataset, not {config.task}")
    if not len(train) or not len(val):
        raise TrainError(f"{root}: need at least one training and one validation image")
    return train, val


def split(ds: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A deterministic random split into (train, val)."""
    order = np.random.default_rng(seed).permutation(len(ds))
    count = max(1, round(len(ds) * val_fraction)) if len(ds) > 1 else 0
    val_index = set(order[:count].tolist())
    train = tuple(item for i, item in enumerate(ds.items) if i not in val_index)
    val = tuple(item for i, item in enumerate(ds.items) if i in val_index)
    return Dataset(ds.names, train, ds.task), Dataset(ds.names, val, ds.task)
