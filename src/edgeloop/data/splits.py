"""The train / val / test splits of a dataset folder, and loading one of them.

Two layouts hold splits:

- sub-datasets ``DATA/train``, ``DATA/val`` (and ``DATA/test``), each a dataset of its
  own, as ``edgeloop dataset split`` writes them and ``edgeloop train`` reads them;
- one YOLO dataset whose ``data.yaml`` points ``train:``, ``val:`` and ``test:`` at
  different folders under ``images/`` (the Ultralytics layout:
  ``images/train``, ``images/val``, labels beside them under ``labels/``).

Scoring a model on its own training images inflates every number, so callers
that evaluate take the validation split by default (``default_split``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import FORMATS, detect_format, load_dataset
from edgeloop.errors import DatasetError

SPLITS = ("train", "val", "test")
ALL = "all"
CHOICES = (*SPLITS, ALL)


@dataclass(frozen=True)
class SplitData:
    """One split of a dataset folder.

    Attributes:
        dataset: the images of the split (every image for ``all``).
        split: ``train``, ``val``, ``test`` or ``all``.
        available: the splits the folder has, in ``SPLITS`` order; empty when it has none.
    """

    dataset: Dataset
    split: str
    available: tuple[str, ...]


def _sub_datasets(path: Path, format: str | None) -> dict[str, Path]:
    """``{split: folder}`` when ``path`` holds sub-datasets named after splits, else empty."""
    found = {name: path / name for name in SPLITS if (path / name).is_dir()}
    if not found or any(_own_format(path)):
        return {}
    for folder in found.values():
        try:
            if format is None:
                detect_format(folder)
        except DatasetError:
            return {}  # e.g. a class-folders dataset with a class called "val"
    return found


def _own_format(path: Path) -> list[str]:
    """Formats other than class folders that ``path`` itself matches (data.yaml, a COCO json...)."""
    return [name for name in FORMATS.names() if name != "folders" and FORMATS.get(name).detect(path)]


def _yolo_prefixes(path: Path) -> dict[str, str]:
    """``{split: folder under images/}`` from a YOLO ``data.yaml`` whose splits differ, else empty."""
    import yaml

    yaml_path = next((path / n for n in ("data.yaml", "data.yml") if (path / n).is_file()), None)
    if yaml_path is None:
        return {}
    try:
        config: Any = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}  # the loader reports the broken file
    if not isinstance(config, dict):
        return {}
    prefixes: dict[str, str] = {}
    for name in SPLITS:
        value = config.get(name)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            continue
        parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or parts[0] != "images":
            continue  # a folder outside images/ or an image list: not a layout this loader reads
        prefixes[name] = "/".join(parts[1:])
    if len(set(prefixes.values())) < 2 or "" in prefixes.values():
        return {}  # edgeloop's own data.yaml names images/ for both: one set, no splits
    return prefixes


def available_splits(path: str | Path, format: str | None = None) -> tuple[str, ...]:
    """The splits ``path`` holds (in ``SPLITS`` order); empty for a dataset without splits."""
    path = Path(path)
    if not path.is_dir():
        return ()
    found = _sub_datasets(path, format) or _yolo_prefixes(path)
    return tuple(name for name in SPLITS if name in found)


def default_split(available: tuple[str, ...]) -> str:
    """``val`` when there is one, else ``test``, else ``all``: scores must not include training images."""
    return next((name for name in ("val", "test") if name in available), ALL)


def load_split(path: str | Path, split: str | None = None, format: str | None = None) -> SplitData:
    """Load one split of ``path``: ``split`` or, when None, ``default_split``.

    Raises:
        DatasetError: ``split`` is unknown or the folder does not have it, or the splits'
            classes differ.
    """
    path = Path(path)
    if split is not None and split not in CHOICES:
        raise DatasetError(f"--split {split}: choose one of {', '.join(CHOICES)}")
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset folder")
    subs = _sub_datasets(path, format) if path.is_dir() else {}
    prefixes = {} if subs else (_yolo_prefixes(path) if path.is_dir() else {})
    available = tuple(name for name in SPLITS if name in subs or name in prefixes)
    chosen = split or default_split(available)
    if chosen != ALL and chosen not in available:
        have = f"it has {', '.join(available)}" if available else "it has no splits, so it is scored whole"
        raise DatasetError(f"{path} has no {chosen} split ({have}): pick another --split, or --split all")
    if subs:
        return SplitData(_from_sub_datasets(path, subs, chosen, format), chosen, available)
    dataset = load_dataset(path, format)
    if chosen != ALL:
        prefix = prefixes[chosen] + "/"
        dataset = replace(dataset, items=tuple(i for i in dataset.items if i.name.startswith(prefix)))
    return SplitData(dataset, chosen, available)


def _from_sub_datasets(path: Path, subs: dict[str, Path], chosen: str, format: str | None) -> Dataset:
    if chosen != ALL:
        return load_dataset(subs[chosen], format)
    parts = {name: load_dataset(folder, format) for name, folder in subs.items()}
    first = next(iter(parts.values()))
    for name, part in parts.items():
        if (part.names, part.task) != (first.names, first.task):
            raise DatasetError(
                f"{path}: the splits have different classes or tasks ({name}: {list(part.names)} vs "
                f"{list(first.names)}); score one split with --split, or give every split the same classes"
            )
    items = tuple(
        replace(item, name=f"{name}/{item.name}") for name, part in parts.items() for item in part.items
    )
    return Dataset(first.names, items, first.task)
