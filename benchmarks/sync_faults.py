"""kill -9 of ``edgeloop sync`` (folder target) at random moments and at its crash points, while a
capture process keeps writing into the spool: lost, duplicated and corrupt must all be 0.

    python benchmarks/sync_faults.py --kills 100 --seed 0          # into a folder
    python benchmarks/sync_faults.py --kills 100 --seed 0 --hub    # into the real hub over HTTP
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from edgeloop.testing.hub_server import HubServer
from edgeloop.testing.sync_faults import HubTarget, sync_kill_rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--initial", type=int, default=600, help="samples in the spool at the start")
    parser.add_argument("--captured", type=int, default=600, help="samples added while sync is killed")
    parser.add_argument("--rate", default="150k", help="sync's bandwidth cap, so kills land mid-drain")
    parser.add_argument("--hub", action="store_true", help="sync to a real hub (SQLite + folder) on loopback")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, contextlib.ExitStack() as stack:
        hub = None
        if args.hub:
            server = stack.enter_context(HubServer(Path(root) / "hub"))
            hub = HubTarget(server.url, server.add_device("bench"), server.admin_token)
        report = sync_kill_rounds(
            Path(root),
            args.kills,
            args.seed,
            args.initial,
            args.captured,
            args.rate,
            max_delay_s=1.5,
            hub=hub,
        )
    print(json.dumps(asdict(report), indent=1))
    c = report.check
    bad = c.lost + c.duplicated + c.corrupt + c.unexpected + c.spool_held + c.spool_orphans
    print(
        f"kills {report.kills} (+ crash points {report.crash_points}), samples {c.expected}: "
        f"lost {c.lost}, duplicated {c.duplicated}, corrupt {c.corrupt}, "
        f"spool integrity {c.spool_integrity}, "
        f"{report.duration_s:.0f} s"
    )
    raise SystemExit(1 if bad or c.spool_integrity != "ok" else 0)


if __name__ == "__main__":
    main()
