"""Split a dataset into train/val/test, stratified; merge datasets with class names mapped.

Splits are stratified by one class per image: the label for classification, and
for detection the image's rarest class (by instances over the whole dataset),
so rare classes land in every split. Images without boxes form their own stratum.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np

from edgeloop.data.dataset import Dataset, Item, new_output_dir
from edgeloop.data.formats import detect_format, load_dataset, save_dataset
from edgeloop.errors import DatasetError
from edgeloop.types import Detections

BACKGROUND = -1  # the stratum of images without boxes


def stratum(item: Item, rarity: Mapping[int, int]) -> int:
    """The class an image is stratified by: its label, or its rarest class, or ``BACKGROUND``."""
    if item.label is not None:
        return item.label
    if item.detections is None or len(item.detections) == 0:
        return BACKGROUND
    return min(set(item.detections.class_id.tolist()), key=lambda c: (rarity[c], c))


def split_dataset(ds: Dataset, val: float, test: float = 0.0, seed: int = 0) -> dict[str, Dataset]:
    """Split ``ds`` into ``train``, ``val`` (and ``test`` when ``test > 0``), deterministic per seed.

    Within each stratum images are shuffled, then cut so that running totals stay
    at the requested fractions: each stratum is within one image of its share and
    the split sizes are exact to rounding.
    """
    if val < 0 or test < 0 or val + test >= 1:
        raise DatasetError(f"--val {val} and --test {test} must be >= 0 and sum to less than 1; lower them")
    rarity: Counter[int] = Counter()
    for item in ds.items:
        if item.detections is not None:
            rarity.update(item.detections.class_id.tolist())
    groups: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(ds.items):
        groups[stratum(item, rarity)].append(index)
    rng = np.random.default_rng(seed)
    part = np.zeros(len(ds), np.int8)  # 0 train, 1 val, 2 test
    seen = n_val = n_test = 0
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda i: ds.items[i].name)
        order = [members[i] for i in rng.permutation(len(members))]
        seen += len(order)
        take_val = max(0, min(len(order), round(seen * val) - n_val))
        take_test = max(0, min(len(order) - take_val, round(seen * test) - n_test))
        part[order[:take_val]] = 1
        part[order[take_val : take_val + take_test]] = 2
        n_val, n_test = n_val + take_val, n_test + take_test
    names = ["train", "val", "test"] if test > 0 else ["train", "val"]
    return {
        name: replace(ds, items=tuple(item for item, p in zip(ds.items, part, strict=True) if p == k))
        for k, name in enumerate(names)
    }


def split_folder(
    src: str | Path,
    out: str | Path,
    val: float,
    test: float = 0.0,
    seed: int = 0,
    to: str | None = None,
    from_: str | None = None,
) -> dict[str, Dataset]:
    """Split ``src`` into ``out/train``, ``out/val`` (and ``out/test``), in format ``to`` or its own."""
    src, out = Path(src), Path(out)
    _refuse_inside(out, [src])
    fmt = from_ or detect_format(src)
    parts = split_dataset(load_dataset(src, fmt), val, test, seed)
    new_output_dir(out)
    for name, part in parts.items():
        save_dataset(part, out / name, to or fmt)
    return parts


def merge_datasets(
    datasets: Sequence[Dataset], renames: Mapping[str, str] | None = None
) -> tuple[Dataset, int]:
    """One dataset holding every image of ``datasets``; returns it and how many images were renamed.

    Class names are renamed by ``renames`` (old -> new; several old names may
    map to one), then united in first-seen order; class ids follow the names.
    An image name already taken gets ``__<n>`` (n = the source's position, from 1)
    before its suffix.
    """
    renames = dict(renames or {})
    if not datasets:
        raise DatasetError("nothing to merge: give at least one dataset")
    if len({ds.task for ds in datasets}) > 1:
        raise DatasetError("cannot merge detection and classification datasets: merge each kind separately")
    unknown = set(renames) - {n for ds in datasets for n in ds.names}
    if unknown:
        raise DatasetError(f"--map names {', '.join(sorted(unknown))}, in no dataset: check the spelling")
    names: list[str] = []
    for ds in datasets:
        names += [renames.get(n, n) for n in ds.names if renames.get(n, n) not in names]
    merged_names = tuple(names)
    items: list[Item] = []
    taken: set[str] = set()
    renamed = 0
    for position, ds in enumerate(datasets, 1):
        ids = np.asarray([merged_names.index(renames.get(n, n)) for n in ds.names], np.int32)
        for item in ds.items:
            name = _free_name(_class_folder_renamed(item, ds.names, renames), taken, position)
            renamed += name != item.name
            taken.add(name)
            items.append(_remapped(item, name, ids, merged_names))
    return Dataset(merged_names, tuple(items), datasets[0].task), renamed


def merge_folders(
    sources: Sequence[str | Path],
    out: str | Path,
    renames: Mapping[str, str] | None = None,
    to: str | None = None,
) -> tuple[Dataset, int]:
    """Merge the datasets at ``sources`` into the new folder ``out`` (format ``to`` or the first source's)."""
    paths = [Path(s) for s in sources]
    _refuse_inside(Path(out), paths)
    formats = [detect_format(p) for p in paths]
    merged, renamed = merge_datasets(
        [load_dataset(p, f) for p, f in zip(paths, formats, strict=True)], renames
    )
    save_dataset(merged, out, to or formats[0])
    return merged, renamed


def parse_renames(pairs: Sequence[str]) -> dict[str, str]:
    """``["old=new", ...]`` as a dict."""
    renames = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise DatasetError(f"--map {pair!r}: write it as old=new, e.g. --map car=vehicle")
        renames[old.strip()] = new.strip()
    return renames


def _refuse_inside(out: Path, sources: Sequence[Path]) -> None:
    target = out.resolve()
    for src in sources:
        root = src.resolve()
        if target == root or target.is_relative_to(root) or root.is_relative_to(target):
            raise DatasetError(f"{out}: output must be outside the source {src}; choose another folder")


def _free_name(name: str, taken: set[str], position: int) -> str:
    if name not in taken:
        return name
    path = PurePosixPath(name)
    candidate, n = path.with_name(f"{path.stem}__{position}{path.suffix}").as_posix(), 1
    while candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}__{position}_{n}{path.suffix}").as_posix()
    return candidate


def _class_folder_renamed(item: Item, names: tuple[str, ...], renames: Mapping[str, str]) -> str:
    """A classification image's leading class folder follows its class's new name."""
    parts = PurePosixPath(item.name).parts
    if item.label is None or len(parts) < 2 or parts[0] != names[item.label]:
        return item.name
    return PurePosixPath(renames.get(parts[0], parts[0]), *parts[1:]).as_posix()


def _remapped(item: Item, name: str, ids: np.ndarray, names: tuple[str, ...]) -> Item:
    det = item.detections
    if det is not None:
        det = Detections(det.xyxy, det.confidence, ids[det.class_id], names)
    label = None if item.label is None else int(ids[item.label])
    return replace(item, name=name, detections=det, label=label)
