"""Run ``edgeloop import`` on a crafted file in a child process and judge how it failed.

A hostile model file (truncated weights, layer counts that lie, gigantic dimensions, a
pickle) must give one ``error:`` line on stderr, exit code 1, no traceback, and stay
within a memory bound: the child's own peak resident memory (VmHWM) is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


# The child reports its own peak resident memory (VmHWM, which execve resets) as it exits. The
# rusage from wait4 is no good here: Linux carries ru_maxrss across execve, so a child started by
# a pytest worker holding torch would report the worker's size.
_LAUNCH = """
import os, sys
def _peak_kb():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return line.split()[1]
    return ''
try:
    from edgeloop.cli.main import main
    sys.argv = ['edgeloop', *sys.argv[1:]]
    main()
finally:
    with open(os.environ['EDGELOOP_PEAK_FILE'], 'w') as out:
        out.write(_peak_kb())
"""


def run_import(
    args: list[str],
    timeout_s: float = 300,
    env: dict[str, str] | None = None,
    python: str | Path | None = None,
    base_env: Mapping[str, str] | None = None,
) -> ImportOutcome:
    """``edgeloop import ARGS`` in a child process, measured.

    ``python`` is the interpreter (default: this one; the reference environment's for imports
    that need TensorFlow); the child's environment is ``base_env`` (default: this process's)
    updated with ``env``.

    A child killed before it could report its peak memory (a hang past ``timeout_s``, the
    kernel's OOM killer) reports infinity, which no bound accepts.
    """
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgeloop-hostile-") as scratch:
        peak_file = Path(scratch) / "peak"
        base = os.environ if base_env is None else base_env
        child_env = {**base, "COLUMNS": "400", "EDGELOOP_PEAK_FILE": str(peak_file), **(env or {})}
        try:
            result = subprocess.run(
                [str(python or sys.executable), "-c", _LAUNCH, "import", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=child_env,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # killed: a hang is a failure, never a pass
            tail = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            lines = [f"(killed after {timeout_s:g} s)", *tail.splitlines()]
            return ImportOutcome(-9, lines, float("inf"), time.monotonic() - start)
        text = peak_file.read_text() if peak_file.is_file() else ""
    peak_mb = int(text) / 1024 if text.isdigit() else float("inf")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return ImportOutcome(result.returncode, lines, peak_mb, time.monotonic() - start)
