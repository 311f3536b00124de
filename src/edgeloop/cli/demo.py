"""``edgeloop demo``: import and run a model end to end, with nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import handle_errors


@handle_errors
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo's files."),
) -> None:
    """Make a small colour detector, import it as a bundle, and predict on generated images."""
    from edgeloop.demo import run_demo

    run_demo(out)
