"""Class folders (classification): ``ROOT/<class name>/<image>``, one sub-folder per class.

Class ids follow the sorted folder names.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from edgeloop.data.dataset import (
    IMAGE_SUFFIXES,
    Dataset,
    DatasetFormat,
    Item,
    copy_image,
    image_size,
    list_images,
    new_output_dir,
    require_task,
)
from edgeloop.data.issues import UNREADABLE_IMAGE, Issues, report
from edgeloop.errors import DatasetError
from edgeloop.progress import progress

# Files at the top that mean another layout (a COCO JSON, a YOLO data.yaml, a CVAT XML) or loose images.
_NOT_FOLDERS = {*IMAGE_SUFFIXES, ".json", ".yaml", ".yml", ".xml"}


def _class_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def detect(path: Path) -> bool:
    """Sub-folders of images, and no images or label files (.json, .yaml) beside them."""
    if not path.is_dir() or any(p.is_file() and p.suffix.lower() in _NOT_FOLDERS for p in path.iterdir()):
        return False
    dirs = _class_dirs(path)
    return bool(dirs) and all(list_images(d) for d in dirs)


def load(path: Path, issues: Issues | None = None) -> Dataset:
    """Read a class-folder dataset; images in nested folders belong to the top folder's class."""
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder")
    dirs = _class_dirs(path)
    if not dirs:
        raise DatasetError(f"{path}: no class folders; put each class's images in ROOT/<class name>/")
    names = tuple(d.name for d in dirs)
    items = []
    for label, folder in enumerate(dirs):
        for image in progress(list_images(folder), f"reading {folder.name}"):
            name = image.relative_to(path).as_posix()
            try:
                size_wh = image_size(image)
            except DatasetError as exc:
                report(issues, UNREADABLE_IMAGE, name, str(exc))
                continue
            items.append(Item(image, name, size_wh, label=label))
    return Dataset(names, tuple(items), "classify")


def save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` to a new folder with one sub-folder per class, keeping image names."""
    require_task(ds, "classify", "folders")
    new_output_dir(path)
    for name in ds.names:
        (path / name).mkdir(exist_ok=True)
    for item in ds.items:
        if item.label is None:
            raise DatasetError(f"{item.name}: no class label; give every image a class")
        rel = PurePosixPath(item.name)
        # Keep the name stable across a round trip: drop a leading folder that is already a class name.
        parts = rel.parts[1:] if len(rel.parts) > 1 and rel.parts[0] in ds.names else rel.parts
        copy_image(item, path / ds.names[item.label] / Path(*parts))


FORMAT = DatasetFormat("folders", "classify", detect, load, save)
