#!/usr/bin/env python
"""Latency of `edgeloop serve --models` across version switches, under 16 clients.

Starts `edgeloop serve --models DIR` on a models folder with two good versions
of one bundle (and one that fails to load), runs the load generator
(edgeloop.testing.loadgen) all along, and interleaves rounds: --steady seconds
of steady state, then a switch of `current` (one os.replace of the symlink, as
the agent does). For each round, p99 of the requests in flight in the steady
span against p99 of those in flight in the switch window (from the switch until
--window seconds later, or 0.5 s after the new version answered if that is
later). Prints both, their ratio (median over rounds; the target is <= 2.0),
the time each switch took, and the failed requests, including during a switch
to a version that does not load and the switch back (a rollback).

    python benchmarks/ota_switch.py [--rounds 6] [--clients 16] [--model yolo|colour]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.testing.loadgen import LoadGen, Report
from edgeloop.testing.model_versions import base_bundle, install, switch
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.testing.servers import free_port


def make_base(work: Path, model: str) -> Path:
    if model == "colour":
        return base_bundle(work, name="m")
    onnx = random_yolo(work / "m.onnx", imgsz=320, num_classes=3)
    import_onnx(onnx, work / "base", ImportOptions(name="m"))
    return work / "base"


def get(port: int, path: str) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def start(models: Path, port: int, log: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeloop", "serve", "--models", str(models), "--port", str(port), *extra],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(port, "/healthz")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def version(port: int) -> str:
    models = get(port, "/v1/models")["models"]
    assert isinstance(models, list)
    return str(models[0]["version"])


def wait_version(port: int, want: str, timeout_s: float = 30.0) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if version(port) == want:
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"the server did not switch to version {want} in {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--steady", type=float, default=3.0, help="seconds of steady state per round")
    parser.add_argument("--window", type=float, default=2.0, help="seconds measured from each switch")
    parser.add_argument("--model", choices=["yolo", "colour"], default="yolo")
    parser.add_argument("serve_args", nargs="*", help="extra `edgeloop serve` flags (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = make_base(work, args.model)
        models = work / "models"
        keys = {v: install(models, base, v, n) for n, v in enumerate(["1", "2"], start=1)}
        bad = install(models, base, "3", 3, broken=True)
        switch(models, keys["1"])
        port = free_port()
        proc = start(models, port, work / "serve.log", args.serve_args)
        _, jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))
        try:
            load = LoadGen(f"http://127.0.0.1:{port}", "m", jpeg.tobytes(), clients=args.clients).start()
            time.sleep(2.0)  # connections up, caches warm
            rounds: list[tuple[float, float, float, float]] = []  # steady p99, switch p99, switch s, ratio
            serving = "1"
            for _ in range(args.rounds):
                steady_start = time.monotonic()
                time.sleep(args.steady)
                switched = time.monotonic()
                serving = "2" if serving == "1" else "1"
                switch(models, keys[serving])
                answered = wait_version(port, serving)
                end = max(switched + args.window, answered + 0.5)
                time.sleep(max(0.0, end - time.monotonic()))
                report = load.report()
                steady = report.percentile(99, steady_start, switched - 0.05)
                during = report.percentile(99, switched, end)
                rounds.append((steady, during, answered - switched, during / steady))
            # a version that does not load, then back to the other good one: no request may fail
            failed_before = load.report().failed
            switch(models, bad)
            time.sleep(2.0)
            rejected_ok = version(port) == serving
            serving = "2" if serving == "1" else "1"
            switch(models, keys[serving])
            wait_version(port, serving)
            time.sleep(1.0)
            report: Report = load.stop()
        finally:
            proc.terminate()
            proc.wait(10)
        log = (work / "serve.log").read_text()
    print(f"model {args.model}, {args.clients} clients, {args.rounds} rounds, {report.total} requests")
    for i, (steady, during, took, ratio) in enumerate(rounds, 1):
        print(
            f"  round {i}: p99 steady {steady:6.1f} ms, during switch {during:6.1f} ms, "
            f"ratio {ratio:4.2f}, switch took {took:4.2f} s"
        )
    ratio = statistics.median(r[3] for r in rounds)
    print(
        f"p99 steady {statistics.median(r[0] for r in rounds):.1f} ms, during a switch "
        f"{statistics.median(r[1] for r in rounds):.1f} ms, ratio {ratio:.2f} (median; target <= 2.0)"
    )
    print(
        f"failed requests: {report.failed} ({failed_before} over the good switches); "
        f"the version that does not load was refused and the old one kept serving: {rejected_ok}"
    )
    if report.failed:
        print("\n".join(report.failures()))
    if "did not load" not in log:
        print("server log has no load failure:\n" + log)
        return 1
    return 0 if report.failed == 0 and rejected_ok and ratio <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
