"""A blob store in a local folder: each key one file, written durably."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

from edgeloop.errors import NotFound
from edgeloop.hub.blobs.base import validate_key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TEMP_PREFIX = ".tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_dead_temps(root: Path) -> int:
    """Remove temp files of puts whose process died (a kill -9 between the temp file and its rename).

    Temp names carry the writer's pid (``.tmp-<pid>-<random>``), so a hub process starting
    beside others on the same folder never removes a put still in flight. Returns how many.
    """
    removed = 0
    for path in root.rglob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not _alive(int(pid)):  # no pid: an older hub's temp name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


class FolderBlobs:
    """Blobs as files under ``root``: temp file, fsync, rename, fsync of the folder.

    Opening the store removes the temp files of puts that a crash interrupted.
    """

    kind = "folder"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.removed_temps = remove_dead_temps(self.root)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _make_dirs(self, folder: Path) -> None:
        """Create ``folder`` (under root) and fsync each parent that got a new entry."""
        missing: list[Path] = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            _fsync_dir(created.parent)

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``; on return it survives a crash or power loss."""
        path = self._path(key)
        self._make_dirs(path.parent)
        temp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            with open(temp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {key!r}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            _fsync_dir(path.parent)

    def close(self) -> None:
        """Nothing to release."""


def open_store(url: str) -> FolderBlobs:
    """A folder store from a plain path or a ``file:///abs/dir`` URL."""
    if url.startswith("file://"):
        url = unquote(urlparse(url).path)
    return FolderBlobs(url)
