"""Progress bars on stderr for long loops; stdout stays clean for results.

Bars show only when stderr is a terminal: piped or captured output gets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def progress_bar(
    total: int, label: str, enabled: bool = True, minimum: int = 1
) -> Iterator[Callable[[], None]]:
    """A transient bar of ``total`` steps, advanced by the yielded function.

    Nothing is drawn when ``enabled`` is false, ``total`` is below ``minimum``
    or stderr is not a terminal; the yielded function then does nothing.
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or total < max(minimum, 1) or not console.is_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # rich redirects stdout through the bar's console (stderr) by default: results written to
    # stdout meanwhile (predict --json) would land on stderr. Never redirect.
    with Progress(
        *columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def progress(items: Sequence[T], description: str, minimum: int = 50) -> Iterator[T]:
    """Yield ``items`` while showing a bar (for ``minimum`` items or more, on a terminal)."""
    with progress_bar(len(items), description, minimum=minimum) as advance:
        for item in items:
            yield item
            advance()


@contextmanager
def activity(label: str, enabled: bool = True) -> Iterator[None]:
    """A transient spinner with ``label`` for one long step that has no count (an engine build).

    Nothing is drawn when ``enabled`` is false or stderr is not a terminal.
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield
        return
    with console.status(label):
        yield
