#!/usr/bin/env python
"""Send hostile uploads to a real ``edgeloop hub serve`` process and count the answers.

Starts the hub on a loopback port (SQLite + blob folder in a temporary folder, or --db), adds a
device, stores one good sample, then sends --requests hostile requests round after round
(``edgeloop.testing.hub_hostile``: decompression bombs, truncated and corrupt images, wrong
content types, oversize bodies, absent and wrong keys, broken metadata, malformed multipart,
bad tokens). The contract: every answer is a 4xx, nothing is stored (sample rows and blob files
unchanged), the hub is alive at the end, no traceback and no token value in its log.
Prints counts by status and by case; exits 1 when any of that fails.

    python benchmarks/hub_hostile.py [--requests 1000] [--seed 0] [--big-every 10] [--db URL]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from edgeloop.imaging import encode_jpeg
from edgeloop.testing.hub_hostile import Hostile, hostile_cases
from edgeloop.testing.hub_server import HubServer


def _send(hub: HubServer, case: Hostile, device: str) -> int:
    token = device if case.token == "device" else case.token
    try:
        return hub.request(case.method, case.path, case.body, case.headers, token)[0]
    except (ConnectionResetError, BrokenPipeError):
        return 413  # answered and closed while the oversize body was still being sent


def _stored(hub: HubServer, blobs: Path) -> tuple[int, int]:
    status, body = hub.json("GET", "/api/v1/samples?limit=1000")
    assert status == 200, body
    return len(body["samples"]), sum(1 for p in blobs.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=1000, help="hostile requests to send")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--big-every", type=int, default=10, help="rounds between ones with 17-33 MiB bodies")
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in the hub's folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubServer(Path(tmp) / "data", db_url=args.db).start()
        try:
            return _run(hub, Path(tmp) / "data" / "blobs", args)
        finally:
            hub.stop()


def _run(hub: HubServer, blobs: Path, args: argparse.Namespace) -> int:
    import numpy as np

    device = hub.add_device("hostile-test")
    good = encode_jpeg(np.full((32, 32, 3), 99, np.uint8))
    assert hub.upload(device, good, {"captured_at": 1.0})[0] == 201
    before = _stored(hub, blobs)
    by_status: collections.Counter[int] = collections.Counter()
    by_case: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    start, sent, round_ = time.perf_counter(), 0, 0
    while sent < args.requests:
        for case in hostile_cases(args.seed + round_, big=round_ % args.big_every == 0):
            if sent >= args.requests:
                break
            status = _send(hub, case, device)
            sent += 1
            by_status[status] += 1
            by_case[case.name] += 1
            if not 400 <= status < 500:
                bad.append(f"{case.name}: {status}")
        round_ += 1
    elapsed = time.perf_counter() - start
    after = _stored(hub, blobs)
    alive = hub.alive() and hub.request("GET", "/healthz", token=None)[0] == 200
    log = hub.log()
    leaked = hub.leaked_tokens()
    print(f"hostile requests: {sent} in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {len(by_case)} kinds")
    print("by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(by_status.items())))
    print(f"non-4xx answers: {len(bad)} {bad[:5]}")
    print(f"stored before/after (rows, blob files): {before} / {after}")
    print(
        f"hub alive: {alive}; tracebacks in log: {log.count('Traceback')}; token values in log: {len(leaked)}"
    )
    ok = not bad and before == after and alive and "Traceback" not in log and not leaked
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
