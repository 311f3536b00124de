"""Dataset defects, raised by a strict load or collected by a tolerant one.

Format loaders take ``issues: Issues | None``. With ``None`` (the normal load) the
first defect raises ``DatasetError``; with an ``Issues`` they record every defect,
skip what is broken (an image, a label line, a box) and keep going, so
``edgeloop dataset check`` can report a whole broken dataset in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeloop.errors import DatasetError

# Kinds of defect. Loaders find the first five; check.py finds the rest on the loaded items.
MISSING_IMAGE = "missing_image"
UNREADABLE_IMAGE = "unreadable_image"
ORPHAN_LABEL = "orphan_label"
BAD_LABEL = "bad_label"
UNKNOWN_CLASS = "unknown_class"
OUT_OF_BOUNDS = "out_of_bounds"
ZERO_AREA = "zero_area"
NAN_BOX = "nan_box"
SIZE_MISMATCH = "size_mismatch"
DUPLICATE_IMAGE = "duplicate_image"
NO_IMAGES = "no_images"
# Warnings: worth knowing, not a broken dataset.
EMPTY_CLASS = "empty_class"
IMBALANCE = "class_imbalance"


@dataclass(frozen=True)
class Issue:
    """One defect: its kind, where it is (``file`` or ``file:line``) and a message with the fix."""

    kind: str
    where: str
    message: str


@dataclass
class Issues:
    """Defects collected by a tolerant load.

    Attributes:
        found: every defect, in the order met.
        box_where: per item name, where each of its boxes came from (``labels/a.txt:3``).
    """

    found: list[Issue] = field(default_factory=list)
    box_where: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str, message: str) -> None:
        """Record a defect."""
        self.found.append(Issue(kind, where, message))


def report(issues: Issues | None, kind: str, where: str, message: str) -> None:
    """Raise ``DatasetError(message)`` on a strict load; record the defect on a tolerant one."""
    if issues is None:
        raise DatasetError(message)
    issues.add(kind, where, message)


def note(issues: Issues | None, kind: str, where: str, message: str) -> None:
    """Record a defect a strict load tolerates (e.g. a label file without an image)."""
    if issues is not None:
        issues.add(kind, where, message)


def remember_boxes(issues: Issues | None, name: str, where: list[str]) -> None:
    """Remember where each box of item ``name`` was read, for messages about the box."""
    if issues is not None:
        issues.box_where[name] = where
