"""Sync into a plain folder: ``<sha256>.json`` (everything the spool row holds), then ``<sha256>.jpg``.

Each file is written to ``.tmp/`` under a unique name, fsynced, renamed into place,
and the folder fsynced, before the spool acks: the image is written last, so a
``<sha256>.jpg`` in the folder means both files are whole. A sample already there
(same name, same size) is not written again, so a restart after a crash never
duplicates anything. Temp files left by a killed process are removed when older
than an hour (several devices may share one folder, e.g. on a NAS).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from edgeloop.errors import ConfigError
from edgeloop.improve.bandwidth import Throttle
from edgeloop.improve.files import fsync_dir
from edgeloop.improve.sync_targets import TargetOptions
from edgeloop.improve.sync_targets.base import Item, Result, TargetRefused, TargetUnavailable, sidecar

STALE_TEMP_S = 3600.0
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR)


class FolderTarget:
    """A folder that receives samples (created if missing)."""

    max_batch = 16

    def __init__(self, options: TargetOptions) -> None:
        if options.location.startswith("file://"):
            raise ConfigError(f"--to {options.location}: give a plain folder path")
        self.root = Path(options.location).expanduser()
        self.description = str(self.root)
        self.temp = self.root / ".tmp"
        try:
            self.temp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--to {self.root}: cannot create the folder: {exc.strerror or exc}") from None
        self.stale_temps_removed = self._remove_stale_temps()

    def _remove_stale_temps(self) -> int:
        removed = 0
        now = time.time()
        for path in self.temp.glob("*.part"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_TEMP_S:
                    path.unlink()
                    removed += 1
        return removed

    def send(self, items: Sequence[Item], throttle: Throttle) -> list[Result]:
        results = []
        for item in items:
            image = self.root / f"{item.sha256}.jpg"
            if _same_size(image, len(item.data)):
                results.append(Result(item.sha256, "duplicate"))
                continue
            meta = json.dumps(sidecar(item.sample), indent=1).encode()
            try:
                self._write(self.root / f"{item.sha256}.json", meta, throttle)
                self._write(image, item.data, throttle)
                fsync_dir(self.root)
            except OSError as exc:
                text = f"{self.root}: cannot write {item.sha256[:12]}: {exc.strerror or exc}"
                if exc.errno in _REFUSED:
                    raise TargetRefused(text + "; give a folder this user may write") from None
                raise TargetUnavailable(text) from None
            results.append(Result(item.sha256, "stored"))
        return results

    def _write(self, path: Path, data: bytes, throttle: Throttle) -> None:
        """Temp file in ``.tmp/`` (unique name), chunked writes paced by ``throttle``, fsync, rename."""
        temp = self.temp / f"{path.name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                chunk = view[: throttle.chunk_bytes]
                throttle.spend(len(chunk))
                written = os.write(fd, chunk)
                view = view[written:]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(temp, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise

    def close(self) -> None:
        pass


def _same_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False
