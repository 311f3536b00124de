"""Safe extraction of tar and zip archives, and reproducible creation of tars.

Python's ``tarfile`` follows member names wherever they point unless told
otherwise; we never call ``extractall``: every member is checked and written
by hand, regular files and directories only.
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from edgeloop.errors import ArchiveError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that stop decompression bombs and oversize uploads.

    ``max_ratio`` caps the expanded size at that many times the archive's size on
    disk (per member too, for zip), once the expansion passes ``ratio_floor_bytes``
    (tiny archives of text compress well and harm nobody).
    """

    max_members: int = 10_000
    max_member_bytes: int = 2 << 30
    max_total_bytes: int = 4 << 30
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 16 << 20

    def allowed_total(self, archive_bytes: int) -> int:
        """Most bytes an archive of ``archive_bytes`` may expand to."""
        by_ratio = max(int(self.max_ratio * archive_bytes), self.ratio_floor_bytes)
        return min(self.max_total_bytes, by_ratio)


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


def check_member(name: str, size: int, total: int, limits: ArchiveLimits, allowed_total: int) -> None:
    """Refuse a member whose name is unsafe or whose declared size breaks a cap.

    ``total`` is the declared size of the members so far, this one included.
    """
    safe_member_path(name)
    if size > limits.max_member_bytes:
        raise ArchiveError(f"member '{name}' is {size} bytes, above the {limits.max_member_bytes} byte cap")
    if total > limits.max_total_bytes:
        raise ArchiveError(f"archive expands to more than {limits.max_total_bytes} bytes, above the cap")
    if total > allowed_total:
        raise ArchiveError(
            f"archive expands to more than {allowed_total / 2**20:.0f} MiB at member '{name}', over "
            f"{limits.max_ratio:g}x its size: refusing a possible decompression bomb "
            "(raise --max-ratio only for an archive you trust)"
        )


def _tar_members(tar: tarfile.TarFile, archive_bytes: int, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    """Members, read header by header so a bomb is refused before its end is decompressed."""
    members: list[tarfile.TarInfo] = []
    total = 0
    allowed = limits.allowed_total(archive_bytes)
    for member in tar:
        members.append(member)
        if len(members) > limits.max_members:
            raise ArchiveError(f"archive has more than {limits.max_members} members, above the cap")
        if member.issym() or member.islnk():
            safe_member_path(member.name)
            raise ArchiveError(f"unsafe member '{member.name}': links are not allowed")
        if not (member.isfile() or member.isdir()):
            safe_member_path(member.name)
            raise ArchiveError(f"unsafe member '{member.name}': only files and folders are allowed")
        total += member.size
        check_member(member.name, member.size, total, limits, allowed)
    return members


def extract_tar(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> list[Path]:
    """Extract a (possibly compressed) tar into ``dest`` after checking every member.

    Nothing is written unless every member passes; bytes are counted again while
    writing. Returns the files written.
    """
    limits = limits or ArchiveLimits()
    try:
        archive_bytes = archive.stat().st_size
        with tarfile.open(archive, "r:*") as tar:
            members = _tar_members(tar, archive_bytes, limits)
            dest.mkdir(parents=True, exist_ok=True)
            budget = _Budget(limits.allowed_total(archive_bytes))
            written = []
            for member in members:
                if member.isfile():
                    source = tar.extractfile(member)
                    if source is None:
                        raise ArchiveError(f"member '{member.name}' has no data")
                    with source:
                        written.append(_write_member(source, member.name, member.size, dest, budget))
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(f"{archive}: cannot read: {exc.strerror or exc}") from None
    return written


def extract_zip(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> list[Path]:
    """Extract a zip into ``dest`` under the same rules as a tar.

    Refused up front: unsafe names, symlinks and other special files (by the Unix
    mode bits in the entry), encrypted or duplicate entries, and sizes or
    compression ratios above ``limits``; bytes are counted again while writing.
    """
    limits = limits or ArchiveLimits()
    try:
        archive_bytes = archive.stat().st_size
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_zip(infos, archive_bytes, limits)
            dest.mkdir(parents=True, exist_ok=True)
            budget = _Budget(limits.allowed_total(archive_bytes))
            written = []
            for info in infos:
                if info.is_dir():
                    dest.joinpath(*safe_member_path(info.filename).parts).mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as source:
                    written.append(_write_member(source, info.filename, info.file_size, dest, budget))
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"{archive}: not a readable zip archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(f"{archive}: cannot read: {exc.strerror or exc}") from None
    return written


def _check_zip(infos: list[zipfile.ZipInfo], archive_bytes: int, limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_members:
        raise ArchiveError(f"archive has {len(infos)} members, above the {limits.max_members} cap")
    allowed, total, seen = limits.allowed_total(archive_bytes), 0, set()
    for info in infos:
        name = info.filename
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"unsafe member '{name}': links are not allowed")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"unsafe member '{name}': only files and folders are allowed")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"member '{name}' is encrypted; re-create the archive without a password")
        if name.rstrip("/") in seen:
            raise ArchiveError(f"member '{name}' appears twice; re-create the archive")
        seen.add(name.rstrip("/"))
        total += info.file_size
        check_member(name, info.file_size, total, limits, allowed)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise ArchiveError(
                f"member '{name}' expands {ratio:.0f}:1, above the {limits.max_ratio:g}:1 cap; "
                "refusing a possible decompression bomb"
            )


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> list[Path]:
    """Extract a zip or a tar (plain, .gz, .bz2, .xz), told apart by content, safely into ``dest``."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    if zipfile.is_zipfile(archive):
        return extract_zip(archive, dest, limits)
    return extract_tar(archive, dest, limits)


class _Budget:
    """Bytes still allowed across all members: counted from what is written, not what headers say."""

    def __init__(self, total: int) -> None:
        self.left = total


def _write_member(source: IO[bytes], name: str, declared: int, dest: Path, budget: _Budget) -> Path:
    target = dest.joinpath(*safe_member_path(name).parts)
    if not target.resolve().is_relative_to(dest.resolve()):  # a folder that is a link inside dest
        raise ArchiveError(f"unsafe member '{name}': resolves outside the target folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            budget.left -= len(chunk)
            if written > declared:
                raise ArchiveError(f"member '{name}' is larger than it declares; refusing the archive")
            if budget.left < 0:
                raise ArchiveError("archive expands to more than its caps allow; refusing the archive")
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
