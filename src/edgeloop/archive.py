"""Safe extraction and reproducible creation of tar archives.

Python's ``tarfile`` follows member names wherever they point unless told
otherwise; we never call ``extractall``: every member is checked and written
by hand, regular files and directories only.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeloop.errors import ArchiveError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that stop decompression bombs and oversize uploads."""

    max_members: int = 10_000
    max_member_bytes: int = 2 << 30
    max_total_bytes: int = 4 << 30


def safe_member_path(name: str) -> PurePosixPath:
    """Validate an archive member name and return it as a relative path.

    Raises:
        ArchiveError: absolute path, drive letter, backslash, or a ``..`` component.
    """
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"unsafe member '{name}': absolute paths are not allowed")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise ArchiveError(f"unsafe member '{name}': '..' would escape the target folder")
    return path


def check_members(members: list[tarfile.TarInfo], limits: ArchiveLimits) -> None:
    """Refuse the whole archive if any member is unsafe or the totals exceed limits."""
    if len(members) > limits.max_members:
        raise ArchiveError(f"archive has {len(members)} members, above the {limits.max_members} cap")
    total = 0
    for member in members:
        safe_member_path(member.name)
        if member.issym() or member.islnk():
            raise ArchiveError(f"unsafe member '{member.name}': links are not allowed")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"unsafe member '{member.name}': only files and folders are allowed")
        if member.size > limits.max_member_bytes:
            raise ArchiveError(
                f"member '{member.name}' is {member.size} bytes, above the {limits.max_member_bytes} byte cap"
            )
        total += member.size
    if total > limits.max_total_bytes:
        raise ArchiveError(f"archive expands to {total} bytes, above the {limits.max_total_bytes} cap")


def extract_tar(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> list[Path]:
    """Extract a (possibly compressed) tar into ``dest`` after checking every member.

    Nothing is written unless every member passes. Returns the files written.
    """
    limits = limits or ArchiveLimits()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            check_members(members, limits)
            dest.mkdir(parents=True, exist_ok=True)
            written = [_extract_member(tar, m, dest, limits) for m in members if m.isfile()]
    except tarfile.TarError as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(f"{archive}: cannot read: {exc.strerror or exc}") from None
    return written


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, limits: ArchiveLimits) -> Path:
    target = dest.joinpath(*safe_member_path(member.name).parts)
    root = dest.resolve()
    if not target.resolve().is_relative_to(root):  # a folder that is a link inside dest
        raise ArchiveError(f"unsafe member '{member.name}': resolves outside the target folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveError(f"member '{member.name}' has no data")
    written = 0
    with source, open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limits.max_member_bytes:
                raise ArchiveError(f"member '{member.name}' is larger than it declares")
            out.write(chunk)
    return target


def create_tar(files: dict[str, Path], archive: Path) -> None:
    """Write ``{archive name: file}`` into an uncompressed tar, reproducibly.

    Names are sorted and owner/time fields fixed so the same files give the
    same bytes. The archive is written to a temporary name and renamed.
    """
    tmp = archive.with_name(archive.name + ".partial")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            safe_member_path(name)
            info = tar.gettarinfo(str(files[name]), arcname=name)
            if not info.isfile():
                raise ArchiveError(f"{files[name]}: only regular files can be packed")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with open(files[name], "rb") as fh:
                tar.addfile(info, fh)
    os.replace(tmp, archive)
