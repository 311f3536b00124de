"""A progress bar on stderr for loops over many images; stdout stays clean for results."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def progress(items: Sequence[T], description: str) -> Iterator[T]:
    """Yield ``items`` while showing a transient bar on stderr (nothing when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    if not console.is_terminal or len(items) < 50:
        yield from items
        return
    yield from track(items, description=description, console=console, transient=True)
