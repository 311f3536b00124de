#!/usr/bin/env python
"""Kill the update agent with SIGKILL at each named point and count what the models folder shows after.

For every point (``agent:<state>`` for each state the agent enters, and
``agent:switch_middle`` between the two link replaces of a switch), ``--runs``
times: a models folder with version 1 committed, version 2's signed tar dropped
into the watched folder, the agent in a child process killed at the point, then
restarted. After the kill and after the restart ``current`` must be the
complete old or the complete new version (verified against the key ring);
the restart must end with version 2 committed; the first run of each point also
loads it in the Predictor. Prints one JSON line per point and a total; exits 1
unless mix, none and failed are all 0.

    python benchmarks/agent_kills.py [--runs 50] [--points agent:window agent:switch_middle]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edgeloop.improve.faults import AGENT_POINTS
from edgeloop.testing.agent_kills import KillCounts, kill_run, prepare
from edgeloop.testing.bad_bundles import make_kit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=50, help="kills per point")
    parser.add_argument("--points", nargs="*", default=list(AGENT_POINTS), choices=AGENT_POINTS)
    args = parser.parse_args()
    total = KillCounts()
    with tempfile.TemporaryDirectory(prefix="agent-kills-") as tmp:
        work = Path(tmp)
        fixture = prepare(work / "fixture", make_kit(work / "kit"))
        for point in args.points:
            counts = KillCounts()
            start = time.perf_counter()
            for run in range(args.runs):
                kill_run(fixture, work / "run", point, counts, load=run == 0)
            print(
                json.dumps(
                    {
                        "point": point,
                        "tried": counts.tried,
                        "mix": counts.mix,
                        "none": counts.none,
                        "failed": counts.failed,
                        "seconds": round(time.perf_counter() - start, 1),
                        "why": dict(counts.why),
                    }
                ),
                flush=True,
            )
            for name in ("tried", "mix", "none", "failed"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
    print(
        json.dumps(
            {
                "point": "all",
                "tried": total.tried,
                "mix": total.mix,
                "none": total.none,
                "failed": total.failed,
            }
        )
    )
    return 0 if total.mix == total.none == total.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
