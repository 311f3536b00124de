"""Files around the labelling hand-off: images out of the blob store, a tool's export made readable.

A labelling tool rarely sends the images back (a Label Studio JSON export or a
CVAT XML names them only), while the dataset readers in ``data/formats`` look
images up to learn their size. ``staged_source`` unzips what the tool exported
and puts every image it names (by the sha256 in the name) beside it, read from
the hub's blob store, so the readers see a complete dataset.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.archive import extract_archive
from edgeloop.data.formats import labelstudio
from edgeloop.data.labelled import source_format
from edgeloop.errors import DatasetError
from edgeloop.hub.blobs import BlobStore
from edgeloop.hub.ingest import sample_key

UNLABELLED = labelstudio.UNLABELLED
SHA256 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
_MOVED_PX = 1.0


Known = Callable[[Iterable[str]], Mapping[str, Any]]  # sha256s -> rows of the samples the hub holds


def file_name(sha256: str, media_type: str) -> str:
    """A sample's image name in an export: its sha256 and the suffix of its type."""
    return sha256 + SUFFIXES.get(media_type, ".jpg")


def fetch_blob(blobs: BlobStore, key: str, target: Path) -> bool:
    """Write blob ``key`` to ``target``; False when the store no longer holds it."""
    if not blobs.exists(key):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(blobs.get(key))
    return True


def _unwrap(folder: Path) -> Path:
    """``folder``, or the one folder it holds when it holds nothing else (a zip of ``task/...``)."""
    for _ in range(3):
        entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        folder = entries[0]
    return folder


def _stage(blobs: BlobStore, rows: Mapping[str, Any], names: dict[str, str], folder: Path) -> None:
    """Write the image of every sample ``names`` maps (sha256 -> file name) under ``folder``."""
    for sha, name in names.items():
        if sha in rows:
            fetch_blob(blobs, sample_key(sha), folder / name)


def _shas(text: str) -> set[str]:
    return set(SHA256.findall(text.lower()))


@contextmanager
def staged_source(
    path: Path, fmt: str | None, known: Known, blobs: BlobStore
) -> Iterator[tuple[Path, Path | None]]:
    """What to hand ``read_labels``: the source (unzipped if need be) and a folder of images, or None.

    Label Studio and CVAT files get a folder of ``<sha256><suffix>`` images; a COCO or
    YOLO folder without ``images/`` is copied with the images it names added.
    """
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder; pass the file or folder the tool exported")
    with tempfile.TemporaryDirectory(prefix="edgeloop-label-import-") as tmp:
        root = Path(tmp)
        source = path
        if path.is_file() and zipfile.is_zipfile(path):
            extract_archive(path, root / "unzipped")
            source = _unwrap(root / "unzipped")
        fmt = fmt or source_format(source)
        images: Path | None = None
        if fmt in ("labelstudio", "cvat"):
            files = [source] if source.is_file() else [*source.glob("*.json"), *source.glob("*.xml")]
            shas = set().union(*(_shas(f.read_text(encoding="utf-8", errors="replace")) for f in files))
            rows = known(shas)
            images = root / "images"
            images.mkdir()
            _stage(blobs, rows, {s: file_name(s, rows[s].media_type) for s in rows}, images)
        elif fmt in ("coco", "yolo") and source.is_dir() and not (source / "images").is_dir():
            source = _complete(source, fmt, root / "complete", known, blobs)
        yield source, images


def _complete(source: Path, fmt: str, target: Path, known: Known, blobs: BlobStore) -> Path:
    """A copy of a COCO or YOLO folder without images, with the images its labels name."""
    shutil.copytree(source, target)
    if fmt == "coco":
        files = _coco_files(target)
        wanted = {sha: f for f in files for sha in _shas(Path(f).name)}
        _stage(blobs, known(wanted), wanted, target / "images")
    else:
        labels = sorted((target / "labels").rglob("*.txt")) if (target / "labels").is_dir() else []
        by_sha = {sha: p for p in labels for sha in _shas(p.stem)}
        rows = known(by_sha)
        wanted = {
            sha: p.relative_to(target / "labels")
            .with_suffix(SUFFIXES.get(rows[sha].media_type, ".jpg"))
            .as_posix()
            for sha, p in by_sha.items()
            if sha in rows
        }
        _stage(blobs, rows, wanted, target / "images")
    (target / "images").mkdir(exist_ok=True)
    return target


def _coco_files(folder: Path) -> list[str]:
    """The image file names a COCO folder's JSON lists ([] when it has no readable one)."""
    found = [folder / "annotations.json"] if (folder / "annotations.json").is_file() else []
    found = found or sorted(folder.glob("*.json"))
    try:
        doc = json.loads(found[0].read_text(encoding="utf-8")) if len(found) == 1 else {}
        return [str(image.get("file_name", "")) for image in doc.get("images") or []]
    except (OSError, ValueError, AttributeError):
        return []  # the COCO reader reports what is wrong with the file


def _xyxy_classes(wire: Mapping[str, Any] | None) -> tuple[np.ndarray, list[str]]:
    boxes, classes = [], []
    for p in (wire or {}).get("predictions") or []:
        if not isinstance(p, dict):
            continue
        x, y, w, h = (float(p[k]) for k in ("x", "y", "width", "height"))
        boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
        classes.append(str(p.get("class", p.get("class_id"))))
    return np.asarray(boxes, np.float64).reshape(-1, 4), classes


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def changed_boxes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[int, int, int]:
    """Boxes (added, removed, modified) from ``before`` to ``after`` (detection wire format).

    Boxes pair up greedily by IoU (at least 0.3); a pair is modified when a corner moved
    more than 1 px or the class changed, unpaired new boxes were added, unpaired old ones removed.
    """
    old, old_cls = _xyxy_classes(before)
    new, new_cls = _xyxy_classes(after)
    iou = _iou(new, old) if len(old) and len(new) else np.zeros((len(new), len(old)))
    pairs: list[tuple[int, int]] = []
    while iou.size and iou.max() >= 0.3:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        pairs.append((int(i), int(j)))
        iou[i, :], iou[:, j] = -1, -1
    modified = sum(
        1 for i, j in pairs if new_cls[i] != old_cls[j] or float(np.abs(new[i] - old[j]).max()) > _MOVED_PX
    )
    return len(new) - len(pairs), len(old) - len(pairs), modified
