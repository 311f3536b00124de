"""Darknet ``.cfg`` text -> sections (``[name]`` + ``key=value`` lines), checked before anything is built.

Only the reading is here; ``layers.py`` turns sections into layers with shapes. Every limit
is checked on the text, so a hostile file is refused before any array is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeloop.errors import ModelImportError

MAX_CFG_BYTES = 1 << 20  # published cfgs are < 20 kB
MAX_SECTIONS = 1000  # YOLOv4 has 162 layers
MAX_OPTION_CHARS = 4096


@dataclass(frozen=True)
class Section:
    """One ``[kind]`` block of a cfg.

    Attributes:
        kind: the section name, lower case (``net``, ``convolutional`` ...).
        options: its ``key=value`` lines (keys lower case, values stripped).
        line: the line number of its header, for messages.
    """

    kind: str
    options: dict[str, str]
    line: int

    def where(self) -> str:
        return f"[{self.kind}] at line {self.line}"

    def text(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """An integer option within [low, high] (ModelImportError naming it otherwise)."""
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ModelImportError(f"{self.where()}: {key}={raw[:40]} is not an integer") from None
        if not low <= value <= high:
            raise ModelImportError(f"{self.where()}: {key}={value} is outside {low}..{high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ModelImportError(f"{self.where()}: {key}={raw[:40]} is not a number") from None
        if not low <= value <= high:
            raise ModelImportError(f"{self.where()}: {key}={value} is outside {low:g}..{high:g}")
        return value

    def integers(self, key: str, max_items: int) -> list[int]:
        """A comma-separated list of integers (empty when absent)."""
        raw = self.options.get(key, "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(parts) > max_items:
            raise ModelImportError(f"{self.where()}: {key} has {len(parts)} items (at most {max_items})")
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ModelImportError(f"{self.where()}: {key}={raw[:60]} is not a list of integers") from None

    def numbers(self, key: str, max_items: int) -> list[float]:
        raw = self.options.get(key, "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(parts) > max_items:
            raise ModelImportError(f"{self.where()}: {key} has {len(parts)} items (at most {max_items})")
        try:
            return [float(p) for p in parts]
        except ValueError:
            raise ModelImportError(f"{self.where()}: {key}={raw[:60]} is not a list of numbers") from None


def read_cfg(path: Path) -> list[Section]:
    """The sections of a cfg file.

    Raises:
        ModelImportError: the file is too large, not text, or not in the cfg syntax.
    """
    if not path.is_file():
        raise ModelImportError(f"{path}: not a file: pass the Darknet .cfg file as MODEL")
    size = path.stat().st_size
    if size > MAX_CFG_BYTES:
        raise ModelImportError(
            f"{path}: {size} bytes is too large for a Darknet .cfg (at most {MAX_CFG_BYTES}); "
            "is it the .weights?"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelImportError(
            f"{path}: not a Darknet .cfg (not UTF-8 text: byte {exc.start}); pass the .cfg as MODEL and "
            "the .weights with --weights"
        ) from None
    return parse_cfg(text, str(path))


def parse_cfg(text: str, source: str = "cfg") -> list[Section]:
    """Parse cfg text: ``[section]`` headers, ``key=value`` lines, ``#`` and ``;`` comments.

    Raises:
        ModelImportError: a line is neither; too many sections; no ``[net]`` first.
    """
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "\x00" in line:
            raise ModelImportError(f"{source}: line {number} holds binary data: not a Darknet .cfg")
        if line.startswith("["):
            if not line.endswith("]") or len(line) > 64:
                raise ModelImportError(f"{source}: line {number}: malformed section header {line[:40]!r}")
            if len(sections) >= MAX_SECTIONS:
                raise ModelImportError(
                    f"{source}: more than {MAX_SECTIONS} sections: not a model edgeloop imports"
                )
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
            continue
        key, eq, value = line.partition("=")
        if not eq or not sections or not key.strip():
            raise ModelImportError(
                f"{source}: line {number} is not a Darknet cfg line ([section] or key=value): {line[:40]!r}"
            )
        if len(value) > MAX_OPTION_CHARS:
            raise ModelImportError(
                f"{source}: line {number}: value longer than {MAX_OPTION_CHARS} characters"
            )
        sections[-1].options[key.strip().lower()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelImportError(f"{source}: not a Darknet .cfg: it must start with a [net] section")
    if len(sections) < 2:
        raise ModelImportError(f"{source}: the cfg has a [net] section but no layers")
    return sections
