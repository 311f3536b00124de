"""Durable file writes for the spool: temp file, fsync, rename, fsync of the directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from edgeloop.improve.faults import crash_point


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, an unlink) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, temp_dir: Path) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either absent or whole, even after a crash.

    The temp file lives in ``temp_dir`` (same filesystem as ``path``), so a crash
    leaves at most a temp file, which the spool removes when it opens.
    """
    temp = temp_dir / f"{path.name}.{os.getpid()}.part"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    os.close(fd)
    crash_point("temp_written")
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)
