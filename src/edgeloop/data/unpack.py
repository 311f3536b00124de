"""Import a dataset from an archive someone sent: extract safely, then prove it is a dataset.

The archive is extracted into a hidden temporary folder beside ``out`` and only
renamed to ``out`` once every member passed the archive rules and the result
loads as a dataset; on any refusal the temporary folder is removed, so nothing
is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeloop.archive import ArchiveLimits, extract_archive
from edgeloop.data.formats import LAYOUTS, detect_format, load_dataset
from edgeloop.data.issues import Issues
from edgeloop.errors import DatasetError

# Clutter some archivers add beside the real content.
_IGNORED = {"__MACOSX", ".DS_Store", "Thumbs.db"}
_MAX_WRAPPERS = 3


@dataclass(frozen=True)
class ImportResult:
    """What was imported: where, in which format, how much, and how many defects ``check`` will report."""

    path: Path
    format: str
    task: str
    images: int
    boxes: int
    classes: int
    defects: int


def import_archive(archive: str | Path, out: str | Path, limits: ArchiveLimits | None = None) -> ImportResult:
    """Extract ``archive`` (zip, tar, tar.gz/tgz, tar.bz2, tar.xz) to the new folder ``out`` as a dataset.

    A dataset wrapped in one top-level folder is unwrapped.

    Raises:
        ArchiveError: an unsafe member (traversal, absolute path, link, special
            file) or a size or ratio cap exceeded.
        DatasetError: ``out`` is not new, or the content is not a dataset.
    """
    archive, out = Path(archive), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not empty: choose a new output folder")
    made = [p for p in out.parents if not p.exists()]  # deepest first, removed again on refusal
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        extract_archive(archive, tmp, limits)
        root = _dataset_root(tmp)
        fmt = _format(root)
        if fmt is None:
            raise DatasetError(
                f"{archive}: holds no recognised dataset (expected {LAYOUTS}); check its content"
            )
        issues = Issues()
        try:
            ds = load_dataset(root, fmt, issues)
        except DatasetError as exc:  # name the archive, not the temporary folder
            raise DatasetError(str(exc).replace(str(root), str(archive))) from None
        if not ds.items:
            raise DatasetError(
                f"{archive}: the {fmt} dataset inside has no readable images; check the archive"
            )
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(root, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:
            with contextlib.suppress(OSError):  # someone else put something there meanwhile
                folder.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)  # what is left when the dataset sat in a wrapper folder
    boxes = sum(len(i.detections) for i in ds.items if i.detections is not None)
    return ImportResult(out, fmt, ds.task, len(ds), boxes, len(ds.names), len(issues.found))


def _dataset_root(folder: Path) -> Path:
    """``folder``, or the single folder it wraps (a zip of ``shapes/`` holds ``shapes/...``).

    A lone folder always looks like a one-class ``folders`` dataset, so a wrapper
    is unwrapped whenever its only folder is itself a dataset.
    """
    for _ in range(_MAX_WRAPPERS):
        entries = [p for p in folder.iterdir() if p.name not in _IGNORED]
        if not entries:
            raise DatasetError("the archive is empty: nothing to import")
        single = len(entries) == 1 and entries[0].is_dir()
        if not (single and _format(folder) in (None, "folders") and _format(entries[0]) is not None):
            return folder
        folder = entries[0]
    return folder


def _format(folder: Path) -> str | None:
    try:
        return detect_format(folder)
    except DatasetError:
        return None
