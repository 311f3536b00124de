#!/usr/bin/env python
"""Rollouts at fleet scale: simulated agents against the hub on PostgreSQL, a 10% canary.

Starts a PostgreSQL server (Debian's binaries, a temporary folder, a loopback port) and
`edgeloop hub serve --db postgresql://... --workers 2` (two hub processes on one database),
publishes three versions of a model, registers --agents devices in one group and starts one
simulated agent per device (edgeloop.testing.agent_fleet: a thread with its own token and
HubSource: assignment polled with ETag, bundle tar downloaded in ranges and checked against
sha256, every state reported).

1. "reaches all": version 2 to the group with a --canary share: the canaries commit, the rollout
   promotes itself and must end done with every device committed.
2. "halts": version 3, and its canaries roll back: the rollout must halt at the canaries, and no
   other device may be offered version 3 (after every agent polled --after-polls more times).

    python benchmarks/rollout_fleet.py [--agents 200] [--canary 0.1] [--poll 1.0]

Prints the counts (and --json writes them); exit status 1 when a case fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.hub.rollouts import choose_canaries
from edgeloop.testing.agent_fleet import Fleet, publish_version, wait_for
from edgeloop.testing.hub_server import HubServer
from edgeloop.testing.servers import fresh_database, postgres_server

GROUP = "fleet"


def _shown(server: HubServer, rollout_id: int) -> dict[str, Any]:
    status, body = server.json("GET", f"/api/v1/rollouts/{rollout_id}")
    if status != 200:
        raise RuntimeError(f"GET rollout {rollout_id}: {status} {body}")
    return dict(body)


def run(tmp: Path, db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {"agents": args.agents, "canary_share": args.canary, "hub_processes": 2}
    with HubServer(tmp / "data", db_url=db_url, workers=2, extra_args=("--no-worker",)) as server:
        engine = create_engine(db_url)
        blobs = open_blobs(str(tmp / "data" / "blobs"))
        try:
            _, v2, v3 = (publish_version(engine, blobs, "det", args.bundle_kib * 1024) for _ in range(3))
        finally:
            blobs.close()
            engine.dispose()
        names = [f"cam-{i:04d}" for i in range(args.agents)]
        tokens = {n: server.add_device(n, GROUP) for n in names}
        fleet = Fleet(server.url, tmp / "agents", poll_s=args.poll)
        try:
            for n in names:
                fleet.start(n, tokens[n])
            began = time.monotonic()
            status, first = server.json(
                "POST",
                "/api/v1/rollouts",
                {"model": "det", "version": v2, "group": GROUP, "canary_share": args.canary},
            )
            assert status == 201, first
            wait_for(
                lambda: _shown(server, first["id"])["state"] in ("done", "halted"), args.timeout, "done", 1.0
            )
            shown = _shown(server, first["id"])
            summary["reach_all"] = {
                "state": shown["state"],
                "canaries": len(first["canaries"]),
                "reached": shown["counts"].get("committed", 0),
                "of": len(names),
                "seconds": round(time.monotonic() - began, 1),
            }

            bad = choose_canaries(names, "det", v3, args.canary)
            fleet.failing = {n: {str(v3)} for n in bad}
            began = time.monotonic()
            status, second = server.json(
                "POST",
                "/api/v1/rollouts",
                {"model": "det", "version": v3, "group": GROUP, "canary_share": args.canary},
            )
            assert status == 201, second
            wait_for(lambda: _shown(server, second["id"])["state"] != "canary", args.timeout, "a halt", 0.5)
            halted_after = round(time.monotonic() - began, 1)
            polls = {n: a.source.polls for n, a in fleet.agents.items()}
            wait_for(
                lambda: all(a.source.polls >= polls[n] + args.after_polls for n, a in fleet.agents.items()),
                args.timeout,
                "more polls",
            )
            shown = _shown(server, second["id"])
            offered = fleet.offered(str(v3))
            summary["halts"] = {
                "state": shown["state"],
                "reason": shown["reason"],
                "canaries": len(second["canaries"]),
                "halted_at": {k: v for k, v in shown["counts"].items() if k not in ("waiting",)},
                "canaries_offered": len([n for n in offered if n in bad]),
                "non_canary_assigned": len([n for n in offered if n not in bad]),
                "seconds_to_halt": halted_after,
            }
        finally:
            fleet.stop()
        summary["failed_requests"] = fleet.failed_requests()
        summary["polls"] = sum(a.source.polls for a in fleet.agents.values())
        summary["not_modified"] = sum(a.source.not_modified for a in fleet.agents.values())
        summary["reports_sent"] = sum(a.source.sent for a in fleet.agents.values())
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--canary", type=float, default=0.1)
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between an agent's assignment polls")
    parser.add_argument("--bundle-kib", type=int, default=256, help="size of the bundle tars' payload")
    parser.add_argument("--after-polls", type=int, default=3, help="polls of every agent after the halt")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgeloop-rollout-")))
        server_url = stack.enter_context(postgres_server())
        summary = run(tmp, fresh_database(server_url, "rollout"), args)
    summary["wall_seconds"] = round(time.monotonic() - began, 1)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    reach, halt = summary["reach_all"], summary["halts"]
    ok = (
        reach["state"] == "done"
        and reach["reached"] == reach["of"]
        and halt["state"] == "halted"
        and halt["non_canary_assigned"] == 0
        and summary["failed_requests"] == 0
    )
    print("PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
