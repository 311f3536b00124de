#!/usr/bin/env python
"""The hub at fleet scale, on loopback: simulated devices against 2 hub processes on PostgreSQL.

Starts a PostgreSQL server (Debian's binaries, a temporary folder, a loopback port), runs
`edgeloop hub migrate`, starts two `edgeloop hub serve --db postgresql://... --blobs DIR`
processes on two loopback ports sharing one blob folder (--blobs s3: a bucket on moto's S3
server), registers the devices through the admin API, then simulates the fleet with asyncio +
httpx (a bounded number of requests in flight, one connection pool per hub): every device
heartbeats every --heartbeat seconds and uploads its own unique small JPEGs with
Idempotency-Key and meta; half start on each hub; a connection error, timeout or 5xx makes a
device back off (full jitter) and retry on the other hub. After --kill-at of the uploads are
acknowledged, one hub is killed with SIGKILL and not restarted. At the end every sample must
have been acknowledged and be held exactly once (row count + sha256 set compare, blob bytes
read back through the hub's store and re-hashed).

    python benchmarks/hub_load.py [--devices 1000] [--samples-per-device 5] [--kill-at 0.4] [--seed 0]

Exit status 1 when anything was lost or doubled. Bounded: a device gives up after --deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from edgeloop.testing.hub_fleet import run_load
from edgeloop.testing.hub_load import LoadOptions
from edgeloop.testing.servers import create_bucket, moto_server, postgres_server, s3_env


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--samples-per-device", type=int, default=5)
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="fraction of uploads acked before kill -9 (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heartbeat", type=float, default=10.0, help="heartbeat period per device, seconds")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="think time between a device's uploads, s"
    )
    parser.add_argument("--connections", type=int, default=32, help="requests in flight, all hubs together")
    parser.add_argument("--deadline", type=float, default=900.0, help="give up on a sample after this, s")
    parser.add_argument(
        "--blobs", choices=["folder", "s3"], default="folder", help="one shared folder, or moto's S3 server"
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    options = LoadOptions(
        devices=args.devices,
        samples_per_device=args.samples_per_device,
        kill_at=args.kill_at,
        seed=args.seed,
        heartbeat_s=args.heartbeat,
        interval_s=args.interval,
        max_connections=args.connections,
        deadline_s=args.deadline,
    )
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="edgeloop-hubload-"))
        server = stack.enter_context(postgres_server(fsync=True))
        blobs_url = None
        if args.blobs == "s3":
            endpoint = stack.enter_context(moto_server())
            os.environ.update(s3_env(endpoint))  # the hub processes inherit it
            create_bucket(endpoint, "hubload")
            blobs_url = "s3://hubload/samples-store"
        result = run_load(Path(tmp), server.replace("+psycopg", ""), options, blobs_url=blobs_url)
    summary = {**result.summary(), "blobs": args.blobs, "wall_seconds": round(time.monotonic() - began, 1)}
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    ok = result.verification.ok and not result.stats.rejected and not result.stats.given_up
    print("PASS: every sample acked and held exactly once" if ok else "FAIL: see lost / duplicated above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
