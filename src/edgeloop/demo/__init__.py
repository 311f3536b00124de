"""The end-to-end demo behind ``make demo``: the whole loop on data it makes itself.

First round (``first``): synth -> train -> export -> eval -> predict. Field round (``field``):
a hub and a simulated device in separate processes; the device meets a shifted domain, captures
and syncs; a scripted labeller (a stand-in for a person) labels; the hub retrains, gates, signs
and publishes; the version is rolled out and the device switches; mAP on the shifted domain
before and after. Nothing is downloaded.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

from edgeloop.demo.config import DemoConfig
from edgeloop.demo.steps import Steps, console

__all__ = ["DemoConfig", "run_demo"]


def run_demo(out: Path, cfg: DemoConfig = DemoConfig()) -> None:
    """Run the demo into ``out`` (replaced if it exists)."""
    from edgeloop.demo.first import first_round

    signal.signal(signal.SIGTERM, _exit_on_term)  # a stopped demo stops its hub and device too
    steps = Steps()
    first = first_round(out, cfg, steps)
    if not cfg.field:
        console.print(steps.table())
        return
    from edgeloop.demo.field import field_round
    from edgeloop.demo.report import print_report

    result = field_round(out, first, cfg, steps)
    print_report(out, result, steps)


def _exit_on_term(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
