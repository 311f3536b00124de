"""From a downloaded bundle tar to a verified folder in ``staging/``, ready to install.

Free space is checked before the download (the tar's size) and before unpacking
(the sum of the members' sizes), each plus a margin; extraction refuses unsafe
members (``edgeloop.archive``: absolute paths, ``..``, links, devices, sizes over
the caps); the folder is verified against the pinned key ring (signature, key
known and not revoked, every file's sha256 and size, nothing unlisted, release
counter above the one installed) while it is still in ``staging/``, so nothing
unverified ever reaches ``versions/``.
"""

from __future__ import annotations

import errno
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgeloop.agent.models import ModelsDir, key_for
from edgeloop.archive import extract_tar
from edgeloop.bundle import Manifest
from edgeloop.errors import ArchiveError, BundleError, EdgeloopError
from edgeloop.improve.diskguard import free_bytes
from edgeloop.signing import Keyring, verify_bundle

MARGIN_BYTES = 16 << 20  # left free after a download or an unpack, for everything else on the device


class Rejected(EdgeloopError):
    """An offer refused before the switch; the message is the reason reported."""


def mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def need_space(folder: Path, need: int, what: str) -> None:
    """Raise ``Rejected("... needs X MB, Y MB free on <folder>")`` when ``need`` bytes do not fit."""
    free = free_bytes(folder)
    if need > free:
        raise Rejected(
            f"{what} needs {mb(need)} MB, {mb(free)} MB free on {folder}; "
            "free some space (or lower --min-free-mb) and offer it again"
        )


def unpacked_size(tar: Path) -> int:
    """The sum of the declared sizes of a tar's members (read from the headers only)."""
    try:
        with tarfile.open(tar, "r:*") as archive:
            return sum(member.size for member in archive if member.isfile())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Rejected(f"{tar.name}: not a readable bundle tar ({exc})") from None


@dataclass(frozen=True)
class Staged:
    """A verified bundle folder in ``staging/``, and the key it installs under."""

    folder: Path
    key: str
    manifest: Manifest


def stage_tar(
    models: ModelsDir, tar: Path, keyring: Keyring, min_counter: int | None, margin_bytes: int = MARGIN_BYTES
) -> Staged:
    """Unpack ``tar`` into ``staging/`` and verify it; nothing is left behind when it is refused.

    Raises:
        Rejected: too little space, an unsafe or unreadable tar, or a verification failure
            (the message names which: unsigned, unknown key, revoked key, bad signature,
            tampered file, replayed counter).
    """
    need_space(models.staging, unpacked_size(tar) + margin_bytes, "unpacking")
    folder = models.staging / tar.name.removesuffix(".tar")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        extract_tar(tar, folder)
        manifest = verify_bundle(folder, keyring, min_counter)
        key = key_for(folder)
    except ArchiveError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if "No space left" in str(exc) or "Disk quota" in str(exc):
            raise Rejected(f"disk full while unpacking into {models.staging}: {exc}") from None
        raise Rejected(f"unsafe or broken bundle tar: {exc}") from None
    except BundleError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise Rejected(f"verification failed ({type(exc).__name__}): {exc}") from None
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Rejected(f"disk full while unpacking into {models.staging}: {exc.strerror}") from None
        raise
    return Staged(folder, key, manifest)
