#!/usr/bin/env python
"""Fuzz a real ``edgeloop serve`` process through its OpenAPI spec, then with mutated images.

Starts the server on a loopback port with a small random YOLO bundle (generated
here), warms it up, sends --requests schemathesis cases (valid and invalid path,
query and body values for every operation in /openapi.json) and --images mutated
image files to the predict route. Prints the counts; the contract is 0 responses
with a 5xx status, 0 tracebacks on the server's stderr, and RSS within +100 MB of
its value after warm-up. Exits 1 when any of those fails.

    python benchmarks/fuzz_server.py [--requests 2000] [--images 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.testing.server_fuzz import run

RSS_LIMIT_MB = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=2000, help="schemathesis requests")
    parser.add_argument("--images", type=int, default=500, help="mutated image uploads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = random_yolo(work / "m.onnx", imgsz=128, num_classes=3, width=0.25)
        bundle = import_onnx(model, work / "bundle", ImportOptions(name="fuzz-target"))
        start = time.perf_counter()
        report = run(bundle.root, "fuzz-target", work / "run", args.requests, args.images, args.seed)
        elapsed_s = time.perf_counter() - start
        stderr_tail = (work / "run" / "stderr.log").read_text(errors="replace")[-4000:]
    counts = {
        "operations": report.operations,
        "schema_requests": report.schema_requests,
        "image_requests": report.image_requests,
        "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
        "server_errors_5xx": len(report.server_errors),
        "no_response": len(report.transport_errors),
        "server_exit_code": report.exit_code,
        "tracebacks": report.tracebacks,
        "rss_after_warmup_mb": round(report.rss_warm_mb, 1),
        "rss_end_mb": round(report.rss_end_mb, 1),
        "rss_growth_mb": round(report.rss_growth_mb, 1),
        "seconds": round(elapsed_s, 1),
    }
    print(json.dumps(counts, indent=1))
    for error in report.server_errors[:20]:
        print("5xx", error)
    for error in report.transport_errors[:20]:
        print("no response", error)
    if report.failed:
        print("server stderr (end):\n" + stderr_tail)
    return 1 if report.failed or report.rss_growth_mb > RSS_LIMIT_MB else 0


if __name__ == "__main__":
    sys.exit(main())
