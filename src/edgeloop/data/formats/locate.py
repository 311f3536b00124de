"""Helpers shared by the labelling-tool formats: finding image files named by URLs, safe XML, peeking JSON.

Labelling tools name images by what they served them from (a Label Studio
``/data/local-files/?d=...`` or ``/data/upload/...`` URL, a CVAT task file name),
not by where they are on this machine. ``ImageFinder`` looks the name up under
a few folders, matching the longest tail of the path that exists, and never
leaves those folders.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

from edgeloop.errors import DatasetError

MAX_XML_BYTES = 200 * 1024 * 1024
# Label Studio stores uploaded files as "<8 hex>-<original name>".
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def first_char(path: Path) -> str:
    """The first non-blank character of a text file ('' when empty or unreadable)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return text[:1]


def url_path(url: str) -> str:
    """The file path a labelling tool's image URL refers to (posix, relative)."""
    parts = urlsplit(url)
    if parts.path.rstrip("/").endswith("/data/local-files"):
        found = parse_qs(parts.query).get("d")
        if found:
            return unquote(found[0]).lstrip("/")
    path = unquote(parts.path if parts.scheme or parts.query else url)
    if "/data/upload/" in path:
        return PurePosixPath(path).name
    return path.replace("\\", "/").lstrip("/")


class ImageFinder:
    """Finds image files by a path or URL under ``roots`` (first root first)."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [r for r in roots if r.is_dir()]

    def find(self, reference: str) -> tuple[Path, str] | None:
        """The file and its name relative to the root it was found under, or None.

        The longest tail of the reference's path that exists under a root wins, so
        ``export/images/a.jpg`` is found as ``images/a.jpg`` or ``a.jpg`` too.
        """
        parts = [p for p in PurePosixPath(url_path(reference)).parts if p not in ("", ".")]
        if not parts or ".." in parts:
            return None
        tails = [parts[i:] for i in range(len(parts))]
        name = parts[-1]
        if _UPLOAD_PREFIX.match(name):
            tails.append([_UPLOAD_PREFIX.sub("", name)])
        for root in self.roots:
            for tail in tails:
                candidate = root.joinpath(*tail)
                if candidate.is_file():
                    return candidate, "/".join(tail)
        return None

    def describe(self) -> str:
        """The folders searched, for error messages."""
        return ", ".join(str(r) for r in self.roots) or "(no existing folder)"


def parse_xml(path: Path, what: str) -> ET.Element:
    """Parse an XML file, refusing DTDs and entities (entity bombs) and files over 200 MB."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_XML_BYTES or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise DatasetError(
            f"{path}: refused: {what} files must be under 200 MB and carry no DTD or entities; "
            "remove the <!DOCTYPE>/<!ENTITY> declarations"
        )
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise DatasetError(f"{path}: not valid XML ({exc}); export the {what} again") from None


def order_names(given: tuple[str, ...] | None, declared: list[str], seen: list[str]) -> tuple[str, ...]:
    """Class names: ``given`` (``--names``), else those the file declares, else those seen, sorted."""
    if given:
        return given
    if declared:
        return tuple(dict.fromkeys(declared))
    return tuple(sorted(set(seen)))
