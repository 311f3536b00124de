#!/usr/bin/env python
"""HTTP serving against in-process inference, measured in the same run.

Starts a real `edgeloop serve` process on loopback, then measures:

  1 client      p50/p99 latency of POST /v1/models/NAME/predict (JPEG bytes),
                alternating request by request with in-process Predictor.predict
  4, 16 clients throughput and p50/p99, each level bracketed by in-process
                throughput (sequential Predictor.predict) measured just before
  overload      64 clients against --queue-size 4: the server must shed with 503
                (Retry-After) and answer normally right after

Targets: p50 at 1 client <= in-process + 3 ms; throughput at 16 clients >=
0.9x in-process. Bounded: every phase has a request count and a time limit.

    python benchmarks/serve_load.py [--model yolo11n.onnx] [--seconds 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from edgeloop.bundle import load_bundle
from edgeloop.predictor import Predictor
from runtime_overhead import make_bundle, scene_jpeg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(bundle: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeloop", "serve", str(bundle), "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


class Client:
    """A keep-alive connection posting one JPEG (stdlib: little client-side CPU)."""

    def __init__(self, port: int, path: str, body: bytes) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path, self.body = path, body

    def post(self) -> int:
        self.conn.request("POST", self.path, self.body, {"Content-Type": "image/jpeg"})
        response = self.conn.getresponse()
        response.read()
        return response.status


def in_process_throughput(predictor: Predictor, jpeg: bytes, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predictor.predict(jpeg)
        count += 1
    return count / (time.perf_counter() - start)


def load(
    port: int, path: str, jpeg: bytes, clients: int, seconds: float, max_requests: int
) -> dict[str, float]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        client = Client(port, path, jpeg)
        while time.perf_counter() < stop:
            with lock:
                if len(latencies) >= max_requests:
                    return
            t0 = time.perf_counter()
            status = client.post()
            elapsed = time.perf_counter() - t0
            with lock:
                codes[status] = codes.get(status, 0) + 1
                if status == 200:
                    latencies.append(elapsed)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies) or [float("nan")]
    return {
        "clients": clients,
        "ok": len(latencies),
        "throughput": len(latencies) / wall,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
        "rejected_503": codes.get(503, 0),
        "other_errors": sum(v for k, v in codes.items() if k not in (200, 503)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="your own ONNX (default: generated yolo11n-sized)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--seconds", type=float, default=8.0, help="per load level")
    parser.add_argument("--rounds", type=int, default=60, help="alternating 1-client rounds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--server-args", default="", help="extra `edgeloop serve` flags, e.g. --no-spinning")
    args = parser.parse_args()
    jpeg = scene_jpeg(640, 480)
    report: dict[str, object] = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(Path(tmp), args.imgsz, args.model)
        name = load_bundle(bundle).manifest.name
        path = f"/v1/models/{name}/predict"
        port = free_port()
        server = start(bundle, port, *args.server_args.split())
        try:
            with Predictor(bundle) as predictor:
                client = Client(port, path, jpeg)
                for _ in range(10):
                    client.post()
                    predictor.predict(jpeg)
                local, remote = [], []
                for i in range(args.rounds):  # alternate, so drift hits both alike
                    for which in (0, 1) if i % 2 == 0 else (1, 0):
                        t0 = time.perf_counter()
                        if which == 0:
                            predictor.predict(jpeg)
                            local.append(time.perf_counter() - t0)
                        else:
                            client.post()
                            remote.append(time.perf_counter() - t0)
                report["one_client"] = {
                    "in_process_p50_ms": statistics.median(local) * 1e3,
                    "http_p50_ms": statistics.median(remote) * 1e3,
                    "http_p99_ms": sorted(remote)[int(0.99 * (len(remote) - 1))] * 1e3,
                }
                levels = []
                for clients in (1, 4, 16):
                    base = in_process_throughput(predictor, jpeg, args.seconds / 2)
                    row = load(port, path, jpeg, clients, args.seconds, 5000)
                    row["in_process_throughput"] = base
                    row["ratio"] = row["throughput"] / base
                    levels.append(row)
                report["levels"] = levels
        finally:
            server.terminate()
            server.wait(10)
        port = free_port()
        server = start(bundle, port, "--queue-size", "4")
        try:
            overload = load(port, path, jpeg, 64, args.seconds, 5000)
            time.sleep(0.5)
            after = Client(port, path, jpeg)
            t0 = time.perf_counter()
            status = after.post()
            overload["after_status"] = status
            overload["after_ms"] = (time.perf_counter() - t0) * 1e3
            report["overload"] = overload
        finally:
            server.terminate()
            server.wait(10)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    one = report["one_client"]
    assert isinstance(one, dict)
    gap = one["http_p50_ms"] - one["in_process_p50_ms"]
    print(
        f"model: {args.model or 'generated yolo11n-sized'} at {args.imgsz}; JPEG 640x480; "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"1 client, alternating: in-process p50 {one['in_process_p50_ms']:.2f} ms, HTTP p50 "
        f"{one['http_p50_ms']:.2f} ms (+{gap:.2f} ms; target <= +3 ms: {'ok' if gap <= 3 else 'MISS'}), "
        f"HTTP p99 {one['http_p99_ms']:.2f} ms"
    )
    print(
        f"{'clients':>7} {'req/s':>7} {'in-proc':>7} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'503':>5} {'err':>4}"
    )
    for row in report["levels"]:  # type: ignore[attr-defined]
        print(
            f"{row['clients']:>7} {row['throughput']:>7.1f} {row['in_process_throughput']:>7.1f} "
            f"{row['ratio']:>6.2f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['rejected_503']:>5} "
            f"{row['other_errors']:>4}" + ("  (target >= 0.9)" if row["clients"] == 16 else "")
        )
    o = report["overload"]
    assert isinstance(o, dict)
    print(
        f"overload, 64 clients, queue 4: {o['ok']} ok, {o['rejected_503']} shed with 503, "
        f"{o['other_errors']} other errors; next request after: {o['after_status']} in {o['after_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
