"""The dataset type every format loads into and saves from."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from edgeloop.errors import DatasetError, ImageError, MissingImage
from edgeloop.imaging import oriented_size, read_header
from edgeloop.types import Detections

if TYPE_CHECKING:
    from edgeloop.data.issues import Issues

Task = Literal["detect", "classify"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Item:
    """One image and its labels.

    Attributes:
        image: path of the image file on disk.
        name: the image's path relative to the dataset's image folder (posix), unique in a dataset.
        size_wh: image width and height in pixels.
        detections: boxes in pixel xyxy (detection datasets), confidence 1.
        label: class id (classification datasets).
    """

    image: Path
    name: str
    size_wh: tuple[int, int]
    detections: Detections | None = None
    label: int | None = None


@dataclass(frozen=True)
class Dataset:
    """Class names and items; ``task`` says whether items carry boxes or a label."""

    names: tuple[str, ...]
    items: tuple[Item, ...]
    task: Task = "detect"

    def __len__(self) -> int:
        return len(self.items)

    def same_as(self, other: Dataset, atol_px: float = 1e-3) -> bool:
        """Same task, class names, image names, sizes and labels; boxes equal to ``atol_px``."""
        if (self.task, self.names) != (other.task, other.names) or len(self) != len(other):
            return False
        theirs = {item.name: item for item in other.items}
        for item in self.items:
            match = theirs.get(item.name)
            if match is None or match.size_wh != item.size_wh or match.label != item.label:
                return False
            if not _same_boxes(item.detections, match.detections, atol_px):
                return False
        return True


def _same_boxes(a: Detections | None, b: Detections | None, atol_px: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if len(a) != len(b) or not np.array_equal(a.class_id, b.class_id):
        return False
    return bool(np.allclose(a.xyxy, b.xyxy, rtol=0, atol=atol_px))


class Loader(Protocol):
    """``load(path)`` raises on the first defect; ``load(path, issues)`` records defects and skips them."""

    def __call__(self, path: Path, issues: Issues | None = None, /) -> Dataset: ...


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset format: one module with ``detect``, ``load`` and ``save``."""

    name: str
    task: Task
    detect: Callable[[Path], bool]
    load: Loader
    save: Callable[[Dataset, Path], None]


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of an image file as displayed, read from its header.

    Raises:
        MissingImage: the file is missing.
        DatasetError: the file is not a readable image.
    """
    if not path.is_file():
        raise MissingImage(f"{path}: image not found; add the image or remove its labels")
    with path.open("rb") as f:
        data = f.read(1 << 20)  # headers (with EXIF) sit in the first bytes
    try:
        return oriented_size(read_header(data))
    except ImageError as exc:
        raise DatasetError(f"{path}: {exc}; replace or remove this image") from exc


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted.

    Raises:
        DatasetError: the folder does not exist.
    """
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder not found; put the images there")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def new_output_dir(path: Path) -> None:
    """Create ``path`` for a dataset to be written, refusing to write into existing files.

    Raises:
        DatasetError: ``path`` exists and is not an empty folder.
    """
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DatasetError(f"{path} already exists and is not empty: choose a new output folder")
    path.mkdir(parents=True, exist_ok=True)


def copy_image(item: Item, target: Path) -> None:
    """Copy an item's image to ``target``, creating folders."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.image, target)


def require_task(ds: Dataset, task: Task, fmt: str) -> None:
    """Raise when ``fmt`` cannot hold a ``ds.task`` dataset."""
    if ds.task != task:
        hint = "folders" if ds.task == "classify" else "coco, yolo or voc"
        raise DatasetError(f"the {fmt} format holds {task} datasets, this one is {ds.task}: save as {hint}")


def labelled_boxes(xyxy: Any, class_id: Sequence[int], names: Sequence[str]) -> Detections:
    """Ground-truth ``Detections``: (N, 4) pixel xyxy boxes with confidence 1."""
    count = len(class_id)
    return Detections(
        np.asarray(xyxy, np.float32).reshape(count, 4),
        np.ones(count, np.float32),
        np.asarray(class_id, np.int32),
        tuple(names),
    )
