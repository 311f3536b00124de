#!/usr/bin/env python
"""Run ``edgeloop import`` on every crafted file of every format and count the clean failures.

The crafted files come from the registry in ``edgeloop.testing.hostile_models`` (format ->
makers). Each is imported in a child process (``edgeloop.testing.hostile_imports.run_import``):
a clean failure is exit code 1, exactly one ``error:`` line on stderr, no traceback, and a peak
resident memory under the bound. Prints one row per crafted file, then a table per format
(format, tried, clean failures, problems, largest peak memory); exits 1 if any problem.

    python benchmarks/hostile_imports.py [--formats onnx pytorch] [--max-rss-mb 1500] [-v]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from edgeloop.testing.hostile_imports import DEFAULT_MAX_RSS_MB, run_import
from edgeloop.testing.hostile_models import HOSTILE, makers


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    parser.add_argument("--formats", nargs="*", default=list(HOSTILE), choices=list(HOSTILE))
    parser.add_argument("--max-rss-mb", type=float, default=DEFAULT_MAX_RSS_MB)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each error line")
    args = parser.parse_args()
    rows: list[tuple[str, str, str | None, float, str]] = []
    for fmt in args.formats:
        for kind, maker in makers(fmt):
            with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
                argv = maker(Path(tmp))
                outcome = run_import([*argv, "--out", str(Path(tmp) / "bundle")])
                left = (Path(tmp) / "bundle").exists()
            problem = outcome.problem(args.max_rss_mb) or ("left a bundle folder" if left else None)
            line = outcome.stderr_lines[0] if outcome.stderr_lines else ""
            rows.append((fmt, kind, problem, outcome.peak_rss_mb, line))
            status = "ok" if problem is None else f"PROBLEM: {problem}"
            print(f"{fmt:10} {kind:55} {outcome.peak_rss_mb:6.0f} MB  {status}", flush=True)
            if args.verbose:
                print(f"{'':10} {line[:200]}")
    print()
    print(f"{'format':10} {'tried':>6} {'clean failures':>15} {'problems':>9} {'peak MB':>8}")
    for fmt in args.formats:
        mine = [r for r in rows if r[0] == fmt]
        clean = sum(r[2] is None for r in mine)
        peak = max((r[3] for r in mine), default=0.0)
        print(f"{fmt:10} {len(mine):6d} {clean:15d} {len(mine) - clean:9d} {peak:8.0f}")
    problems = sum(r[2] is not None for r in rows)
    print(f"{'all':10} {len(rows):6d} {len(rows) - problems:15d} {problems:9d}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
