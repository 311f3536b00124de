"""Which files a signed bundle may hold: exactly the ones its manifest lists, each intact.

A signature over ``bundle.json`` protects the other files only through the
sha256 (and, for variants, the size) the manifest records for each of them,
so a signed bundle may hold nothing else: a file the manifest does not list
is refused, when signing and when verifying.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeloop.bundle import MANIFEST, SIGNATURE, Manifest, sha256_file
from edgeloop.signing.errors import Tampered


@dataclass(frozen=True)
class Listed:
    """A file the manifest names: its sha256 and, where the manifest records it, its size."""

    name: str
    sha256: str
    size_bytes: int | None = None


def listed_files(manifest: Manifest) -> dict[str, Listed]:
    """Every file of the bundle by normalised relative name (variants, their extra files, samples)."""
    entries = [Listed(v.file, v.sha256, v.size_bytes) for v in manifest.variants]
    entries += [Listed(name, digest) for v in manifest.variants for name, digest in v.extra_files.items()]
    entries += [Listed(s.file, s.sha256) for s in manifest.samples]
    files: dict[str, Listed] = {}
    for entry in entries:
        key = PurePosixPath(entry.name).as_posix()
        if key in files and files[key].sha256 != entry.sha256:
            raise Tampered(
                f"{MANIFEST} lists '{key}' twice with different sha256; fix the manifest and re-sign"
            )
        files[key] = entry
    return files


def present_files(root: Path) -> list[str]:
    """Relative names of the regular files under ``root``; anything else (links, devices) is refused."""
    found: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(root / rel if rel else root) as entries:
            for entry in entries:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(name)
                elif entry.is_file(follow_symlinks=False):
                    found.append(name)
                else:
                    raise Tampered(
                        f"{root / name}: links and special files may not be in a signed bundle; remove it"
                    )
    return sorted(found)


def unlisted(root: Path, manifest: Manifest) -> list[str]:
    """Files under ``root`` that neither the manifest lists nor are the manifest or its signature."""
    allowed = {*listed_files(manifest), MANIFEST, SIGNATURE}
    return [name for name in present_files(root) if name not in allowed]


def check_files(root: Path, manifest: Manifest) -> None:
    """Every listed file present with its size and sha256, and no unlisted file.

    Raises:
        Tampered: naming the first file that is missing, differs, or is not listed.
    """
    extra = unlisted(root, manifest)
    if extra:
        raise Tampered(
            f"{root / extra[0]}: not listed in the signed {MANIFEST} ({len(extra)} unlisted file(s)); "
            "remove it, or re-sign a bundle that lists it"
        )
    for name, entry in listed_files(manifest).items():
        path = root.joinpath(*PurePosixPath(name).parts)
        if not path.is_file():
            raise Tampered(f"{path}: listed in {MANIFEST} but missing; re-copy the bundle")
        size = path.stat().st_size
        if entry.size_bytes is not None and size != entry.size_bytes:
            raise Tampered(f"{path}: {size} bytes, {MANIFEST} says {entry.size_bytes}; re-copy the bundle")
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise Tampered(
                f"{path}: sha256 {actual[:12]}... differs from {MANIFEST} "
                f"({entry.sha256[:12]}...): the file was changed or corrupted; re-copy the bundle"
            )
