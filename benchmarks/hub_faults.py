"""Nothing lost, nothing doubled: capture + sync + hub under kill -9 and a faulty network (issue 14).

    python benchmarks/hub_faults.py --frames 10000 --device-kills 100 --hub-kills 20 \
        [--backend sqlite|postgresql|postgresql-s3] [--no-proxy]

The device (real capture and background sync) and the hub (``edgeloop hub serve``) are
killed with SIGKILL at random moments and restarted; a loopback proxy drops, resets,
stalls and cuts connections (mid-body too) for the whole run, unless ``--no-proxy``.
Prints the counts and exits 1 when any of lost, duplicated, corrupt, leftovers or an
integrity check is not clean. ``--json`` writes the whole report. docs/hub/faults.md has
the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgeloop.testing.loop_faults import BACKENDS, LoopOptions, report_table, run_loop


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--device-kills", type=int, default=100)
    parser.add_argument("--hub-kills", type=int, default=20)
    parser.add_argument("--crash-rounds", type=int, default=3, help="Crashes at each named point.")
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument("--no-proxy", action="store_true", help="Device talks to the hub directly.")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="Per connection, for each fault kind.")
    parser.add_argument("--fps", type=float, default=20.0, help="Capture pace (0: as fast as it goes).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=None, help="Working folder (default: a temp folder).")
    parser.add_argument("--json", type=Path, default=None, help="Write the whole report here.")
    args = parser.parse_args()
    options = LoopOptions(
        frames=args.frames,
        device_kills=args.device_kills,
        hub_kills=args.hub_kills,
        crash_rounds=args.crash_rounds,
        seed=args.seed,
        backend=args.backend,
        proxy=not args.no_proxy,
        fault_rate=args.fault_rate,
        fps=args.fps,
    )
    with tempfile.TemporaryDirectory(prefix="hub-faults-") as temp:
        report = run_loop(args.root or Path(temp), options)
    print(f"backend {args.backend}, proxy {'off' if args.no_proxy else 'on'}, seed {args.seed}")
    print(report_table(report))
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2))
    bad = report.bad()
    if bad:
        print(f"FAILED: {bad}", file=sys.stderr)
        for name, examples in report.check.examples.items():
            print(f"  {name}: {', '.join(examples)}", file=sys.stderr)
        return 1
    print("every captured sample is at the hub exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
