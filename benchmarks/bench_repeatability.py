#!/usr/bin/env python
"""Does `edgeloop bench` repeat? Run it several times on one bundle; compare the p50s.

Runs ``edgeloop bench BUNDLE --json`` ``--repeats`` times as separate
processes (a yolo11n-sized model made here unless ``--bundle`` is given) and
prints each run's total and infer p50 and the spread (max / min - 1) of each.
Target: within 15 % on a quiet machine. Nothing else should run meanwhile.

    python benchmarks/bench_repeatability.py [--repeats 5] [--runs 100] [--bundle B]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import random_yolo


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--bundle", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or import_onnx(random_yolo(Path(tmp) / "m.onnx"), Path(tmp) / "b").root
        totals, infers = [], []
        for i in range(args.repeats):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "edgeloop.cli",
                    "bench",
                    str(bundle),
                    "--json",
                    "--runs",
                    str(args.runs),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            run = json.loads(out.stdout)["results"][0]
            totals.append(run["stages"]["total"]["p50_ms"])
            infers.append(run["stages"]["infer"]["p50_ms"])
            print(f"run {i + 1}: total p50 {totals[-1]:.2f} ms, infer p50 {infers[-1]:.2f} ms")
    spread_total = max(totals) / min(totals) - 1
    spread_infer = max(infers) / min(infers) - 1
    print(f"spread of p50 (max/min - 1): total {100 * spread_total:.1f}%, infer {100 * spread_infer:.1f}%")
    ok = spread_total <= 0.15
    print(f"target <= 15%: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
