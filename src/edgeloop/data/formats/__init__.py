"""Dataset formats: name -> module, imported lazily, and auto-detection on load."""

from __future__ import annotations

from pathlib import Path

from edgeloop.data.dataset import Dataset, DatasetFormat
from edgeloop.data.issues import Issues
from edgeloop.errors import DatasetError
from edgeloop.registry import Registry

# Detection order matters: class folders match almost any tree, so they come last.
FORMATS = Registry(
    "dataset format",
    {
        "yolo": "edgeloop.data.formats.yolo:FORMAT",
        "coco": "edgeloop.data.formats.coco:FORMAT",
        "voc": "edgeloop.data.formats.voc:FORMAT",
        "labelstudio": "edgeloop.data.formats.labelstudio:FORMAT",
        "cvat": "edgeloop.data.formats.cvat:FORMAT",
        "folders": "edgeloop.data.formats.folders:FORMAT",
    },
    DatasetError,
)

LAYOUTS = (
    "yolo: data.yaml + images/ + labels/; coco: one .json + images/; "
    "voc: Annotations/ + JPEGImages/; labelstudio: tasks.json (a JSON list) + images/; "
    "cvat: annotations.xml + images/; folders: one sub-folder of images per class"
)


def get_format(name: str) -> DatasetFormat:
    """The format registered as ``name``."""
    fmt: DatasetFormat = FORMATS.get(name)
    return fmt


def detect_format(path: Path) -> str:
    """Name of the first format whose layout ``path`` matches.

    Raises:
        DatasetError: ``path`` is missing or matches no format.
    """
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset folder")
    for name in FORMATS.names():
        if get_format(name).detect(path):
            return name
    raise DatasetError(f"{path}: not a recognised dataset ({LAYOUTS}); pass --from to name the format")


def load_dataset(path: str | Path, format: str | None = None, issues: Issues | None = None) -> Dataset:
    """Load a dataset, detecting its format unless ``format`` names one.

    With ``issues`` the load is tolerant: defects are recorded there and skipped
    instead of raising (a folder that is no dataset at all still raises).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset folder")
    return get_format(format or detect_format(path)).load(path, issues)


def save_dataset(ds: Dataset, path: str | Path, format: str) -> None:
    """Write ``ds`` to a new folder ``path`` in ``format``."""
    get_format(format).save(ds, Path(path))
