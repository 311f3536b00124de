"""A size-capped filesystem for disk-full tests: the kernel itself answers ENOSPC.

``capped_filesystem(workdir, size_bytes)`` mounts, as root, a fresh ext4 image
through a loop device (``mkfs.ext4 -m 0``: no blocks reserved for root, so
root sees the same ENOSPC as any user), or, where loop devices are missing, a
``tmpfs`` with ``size=``. Both need CAP_SYS_ADMIN; without it
``CappedFsUnavailable`` says why (tests skip, or fail under CI=true).

``fill`` takes the free space with a filler file (leaving ``leave_bytes``);
``release`` deletes it so that space returns while the spool keeps running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgeloop.improve.diskguard import free_bytes


class CappedFsUnavailable(RuntimeError):
    """No size-capped filesystem can be mounted here (not root, no loop device, no mount rights)."""


@dataclass
class CappedFs:
    """A mounted, size-capped filesystem at ``path`` (``kind``: ``ext4 (loop)`` or ``tmpfs``)."""

    path: Path
    kind: str
    size_bytes: int
    fillers: list[Path] = field(default_factory=list)

    def free(self) -> int:
        """Bytes free for an unprivileged writer."""
        return free_bytes(self.path)

    def fill(self, leave_bytes: int = 0) -> int:
        """Take all free space but ``leave_bytes`` (best effort, to the block) with a filler file.

        Returns the bytes written. With ``leave_bytes=0`` it writes until the kernel answers ENOSPC.
        """
        filler = self.path / f"filler-{len(self.fillers)}"
        self.fillers.append(filler)
        written = 0
        chunk = b"\0" * (1 << 16)
        with open(filler, "wb", buffering=0) as fh:
            while True:
                want = self.free() - leave_bytes
                if want <= 0:
                    break
                try:
                    written += fh.write(chunk[: min(len(chunk), want)]) or 0
                except OSError:  # ENOSPC: full to the last block
                    break
            with contextlib.suppress(OSError):
                os.fsync(fh.fileno())
        return written

    def release(self) -> None:
        """Delete the filler files: the space returns."""
        for filler in self.fillers:
            with contextlib.suppress(FileNotFoundError):
                filler.unlink()
        self.fillers.clear()


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _mount_ext4(image: Path, mountpoint: Path, size_bytes: int) -> str | None:
    """Mount a fresh ext4 image on a loop device; None on success, else why not."""
    if shutil.which("mkfs.ext4") is None:
        return "mkfs.ext4 not found (apt-get install e2fsprogs)"
    with open(image, "wb") as fh:
        fh.truncate(size_bytes)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096", str(image))
    if made.returncode:
        return f"mkfs.ext4: {made.stderr.strip()}"
    mounted = _run("mount", "-o", "loop", str(image), str(mountpoint))
    return f"mount -o loop: {mounted.stderr.strip()}" if mounted.returncode else None


def _mount_tmpfs(mountpoint: Path, size_bytes: int) -> str | None:
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mountpoint))
    return f"mount -t tmpfs: {mounted.stderr.strip()}" if mounted.returncode else None


@contextlib.contextmanager
def capped_filesystem(
    workdir: Path, size_bytes: int = 32 * 1024**2, kind: str = "auto"
) -> Iterator[CappedFs]:
    """Mount a filesystem of ``size_bytes`` under ``workdir/mnt``; unmount and clean up after.

    ``kind``: ``ext4``, ``tmpfs``, or ``auto`` (ext4, else tmpfs).

    Raises:
        CappedFsUnavailable: not root, or no filesystem of that kind can be mounted.
    """
    if os.geteuid() != 0:
        raise CappedFsUnavailable("mounting a size-capped filesystem needs root (CI runs the tests as root)")
    if shutil.which("mount") is None:
        raise CappedFsUnavailable("mount not found (apt-get install mount)")
    mountpoint = workdir / "mnt"
    mountpoint.mkdir(parents=True, exist_ok=True)
    image = workdir / "capped.img"
    why: list[str] = []
    mounted = ""
    if kind in ("auto", "ext4"):
        failed = _mount_ext4(image, mountpoint, size_bytes)
        mounted = "ext4 (loop)" if failed is None else ""
        why += [failed] if failed else []
    if not mounted and kind in ("auto", "tmpfs"):
        failed = _mount_tmpfs(mountpoint, size_bytes)
        mounted = "tmpfs" if failed is None else ""
        why += [failed] if failed else []
    if not mounted:
        raise CappedFsUnavailable(f"cannot mount a size-capped filesystem: {'; '.join(why) or kind}")
    capped = CappedFs(mountpoint, mounted, size_bytes)
    try:
        yield capped
    finally:
        # Lazy unmount: a spool still open by a failing test must not leave the mount behind.
        _run("umount", "-l", str(mountpoint))
        with contextlib.suppress(OSError):
            image.unlink()
