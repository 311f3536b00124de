"""What every command shares: consoles and error handling.

Results go to stdout; progress, status and errors go to stderr, so
``edgeloop predict --json ... > out.jsonl`` stays clean.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from edgeloop.errors import EdgeloopError
from edgeloop.validation import format_validation_error

P = ParamSpec("P")
R = TypeVar("R")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """Print one ``error: ...`` line on stderr."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn edgeloop errors (and pydantic's) into one line on stderr and exit code 1; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EdgeloopError as exc:
            error_line(_escape(str(exc)))
            raise typer.Exit(1) from None
        except ValidationError as exc:  # a settings model checked past the boundaries: still one line
            error_line(_escape(f"invalid settings: {format_validation_error(exc, 'key')}"))
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
            sys.stderr.close()
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            error_line(_escape(f"{where}{exc.strerror or exc}"))
            raise typer.Exit(1) from None

    return wrapper


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def stdout_line(text: str) -> None:
    """Write one line to stdout, unformatted."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run_until_signalled(run: Callable[[], R], stop: Callable[[], None]) -> tuple[R, list[str]]:
    """``run()`` with Ctrl-C and SIGTERM calling ``stop()`` for a clean end (a second one
    interrupts at once); returns its result and the names of the signals that stopped it."""
    stopped_by: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        if stopped_by:  # a second Ctrl-C: stop waiting for a clean shutdown
            raise KeyboardInterrupt
        stopped_by.append(signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(), stopped_by
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
