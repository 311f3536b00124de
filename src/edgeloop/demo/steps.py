"""Numbered steps with their wall-clock time, printed as they start and tabled at the end."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

console = Console(stderr=True, highlight=False)


@dataclass
class Step:
    """One finished step: its number, what it did, its seconds and a short result."""

    number: int
    title: str
    short: str
    seconds: float = 0.0
    result: str = ""


@dataclass
class Steps:
    """The demo's steps in order; ``step`` times one and prints its header."""

    done: list[Step] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def step(self, short: str, title: str = "") -> Iterator[Step]:
        """Print ``n. title`` and time the block; the table shows ``short`` and the step's ``.result``."""
        entry = Step(len(self.done) + 1, title or short, short)
        console.print(f"[bold]{entry.number}.[/] {entry.title}")
        t = time.perf_counter()
        try:
            yield entry
        finally:
            entry.seconds = time.perf_counter() - t
            self.done.append(entry)
        console.print(f"   ({entry.seconds:.0f} s)")

    def total_s(self) -> float:
        return time.perf_counter() - self.started

    def table(self) -> Table:
        """Each step's time and result, and the total."""
        table = Table(title="the demo, step by step", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("step", no_wrap=True)
        table.add_column("s", justify="right")
        table.add_column("result")
        for s in self.done:
            table.add_row(str(s.number), s.short, f"{s.seconds:.0f}", s.result)
        table.add_row("", "[bold]total[/]", f"{self.total_s():.0f}", "")
        return table


def torch_threads(requested: int | None) -> int | None:
    """``requested``, else 1 when other work loads the machine (two torch threads on a busy
    machine spin-wait for each other: an epoch can take 8x longer), else None (torch's default)."""
    if requested is not None:
        return requested
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load >= 1.0:
        console.print(f"   (load average {load:.1f} on {cores} cores: training on one torch thread)")
        return 1
    return None
