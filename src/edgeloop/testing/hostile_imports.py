"""Run ``edgeloop import`` on a crafted file in a child process and judge how it failed.

A hostile model file (truncated weights, layer counts that lie, gigantic dimensions, a
pickle) must give one ``error:`` line on stderr, exit code 1, no traceback, and stay
within a memory bound: the child's peak resident memory is read from ``wait4``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

DEFAULT_MAX_RSS_MB = 1500


@dataclass(frozen=True)
class ImportOutcome:
    """How one ``edgeloop import`` run ended.

    Attributes:
        returncode: the exit status (1 for a refused model).
        stderr_lines: what it printed on stderr, line by line (blank lines dropped).
        peak_rss_mb: the child's peak resident memory.
        seconds: how long it ran.
    """

    returncode: int
    stderr_lines: list[str]
    peak_rss_mb: float
    seconds: float

    def problem(self, max_rss_mb: float = DEFAULT_MAX_RSS_MB) -> str | None:
        """None when the run failed cleanly: exit 1, one ``error:`` line, no traceback, memory bounded."""
        text = "\n".join(self.stderr_lines)
        if self.returncode != 1:
            return f"exit code {self.returncode} (want 1): {text[-400:]}"
        if "Traceback" in text:
            return f"a traceback: {text[-400:]}"
        errors = [line for line in self.stderr_lines if line.startswith("error:")]
        if len(errors) != 1 or len(self.stderr_lines) != 1:
            counts = f"{len(self.stderr_lines)} stderr lines, {len(errors)} 'error:' lines"
            return f"{counts} (want 1): {text[-400:]}"
        if self.peak_rss_mb > max_rss_mb:
            return f"peak memory {self.peak_rss_mb:.0f} MB (bound {max_rss_mb:.0f} MB)"
        return None


def run_import(args: list[str], timeout_s: float = 300, env: dict[str, str] | None = None) -> ImportOutcome:
    """``python -m edgeloop import ARGS`` in a child process (this interpreter), measured."""
    start = time.monotonic()
    child_env = {**os.environ, "COLUMNS": "400", **(env or {})}
    with subprocess.Popen(
        [sys.executable, "-m", "edgeloop", "import", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        timer = threading.Timer(timeout_s, proc.kill)  # a hang counts as a failure (exit -9)
        timer.start()
        try:
            stderr = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own peak memory
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return ImportOutcome(proc.returncode, lines, usage.ru_maxrss / 1024, time.monotonic() - start)
