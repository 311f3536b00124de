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
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeloop.testing.hostile_imports import DEFAULT_MAX_RSS_MB, run_import
from edgeloop.testing.hostile_models import HOSTILE

ROOT = Path(__file__).resolve().parents[1]  # makers may live in the test suite (tests.convert...)


_MAKE = """
import json, sys
from pathlib import Path
from edgeloop.testing.hostile_models import makers
out = []
for i, (kind, maker) in enumerate(makers(sys.argv[1])):
    folder = Path(sys.argv[2]) / str(i)
    folder.mkdir()
    out.append([kind, maker(folder), str(folder)])
print(json.dumps(out))
"""


def _make(fmt: str, work: Path) -> list[tuple[str, list[str], Path]]:
    """Write ``fmt``'s crafted files under ``work`` in a child process: (kind, import args, folder).

    The makers, some of which import torch, run apart so that this process stays small.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", _MAKE, fmt, str(work)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"making the crafted {fmt} files failed:\n{done.stderr[-2000:]}")
    return [(kind, argv, Path(folder)) for kind, argv, folder in json.loads(done.stdout)]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    parser.add_argument("--formats", nargs="*", default=list(HOSTILE), choices=list(HOSTILE))
    parser.add_argument("--max-rss-mb", type=float, default=DEFAULT_MAX_RSS_MB)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each error line")
    args = parser.parse_args()
    rows: list[tuple[str, str, str | None, float, str]] = []
    for fmt in args.formats:
        with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
            for kind, argv, folder in _make(fmt, Path(tmp)):
                outcome = run_import([*argv, "--out", str(folder / "bundle")])
                left = (folder / "bundle").exists()
                problem = outcome.problem(args.max_rss_mb) or ("left a bundle folder" if left else None)
                line = outcome.stderr_lines[0] if outcome.stderr_lines else ""
                rows.append((fmt, kind, problem, outcome.peak_rss_mb, line))
                status = "ok" if problem is None else f"PROBLEM: {problem}"
                print(f"{fmt:12} {kind:58} {outcome.peak_rss_mb:6.0f} MB  {status}", flush=True)
                if args.verbose:
                    print(f"{'':12} {line[:200]}")
    print()
    print(f"{'format':12} {'tried':>6} {'clean failures':>15} {'problems':>9} {'peak MB':>8}")
    for fmt in args.formats:
        mine = [r for r in rows if r[0] == fmt]
        clean = sum(r[2] is None for r in mine)
        peak = max((r[3] for r in mine), default=0.0)
        print(f"{fmt:12} {len(mine):6d} {clean:15d} {len(mine) - clean:9d} {peak:8.0f}")
    problems = sum(r[2] is not None for r in rows)
    print(f"{'all':12} {len(rows):6d} {len(rows) - problems:15d} {problems:9d}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
