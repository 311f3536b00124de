#!/usr/bin/env python
"""How well does the hardware latency predictor do? Two checks, printed side by side.

1. The published set (``src/edgeloop/hardware/measurements.json``): leave-one-out
   median absolute percentage error (MdAPE), target <= 35 %, plus the harder
   leave-one-device-out error (each device predicted from the others only).
2. This machine: ONNX Runtime CPU latency (Predictor, infer stage, p50 of
   interleaved rounds) of three model sizes (random_yolo width 0.5 / 1.0 / 2.0)
   at two input sizes (320, 640), against the predictor with this host as a
   catalog device whose FP32 peak is numpy's sgemm rate measured in the same run.
   The host is calibrated from two anchors (width 1.0 at 640 and at 320, like
   benchmarking one bundle at two sizes with ``edgeloop bench``) and the other
   two model sizes are predicted at both input sizes; target within 30 %.
   The prediction from the published calibration alone (no anchor) is printed too.

    python benchmarks/predictor_accuracy.py [--rounds 7] [--runs 5] [--skip-host]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgeloop.backends import OnnxRuntimeConfig
from edgeloop.hardware.catalog import Cpu, Device, Target, load_catalog
from edgeloop.hardware.predict import (
    Calibration,
    Workload,
    abs_pct_errors,
    fit,
    fit_group,
    ideal_ms,
    leave_one_device_out,
    leave_one_out,
    load_measurements,
    median_abs_pct_error,
    predict,
)
from edgeloop.hardware.profile import profile_onnx
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.testing.onnx_models import random_yolo

WIDTHS = (0.5, 1.0, 2.0)
SIZES = (320, 640)
ANCHORS = ((1.0, 640), (1.0, 320))


def published() -> float:
    catalog, ms = load_catalog(), load_measurements()
    pairs = leave_one_out(ms, catalog)
    devices, runtimes = {m.device for m in ms}, {m.runtime for m in ms}
    print(f"published set: {len(ms)} measurements, {len(devices)} devices, {len(runtimes)} runtimes")
    by_device: dict[str, list[float]] = defaultdict(list)
    for (m, _), e in zip(pairs, abs_pct_errors(pairs), strict=True):
        by_device[m.device].append(e)
    lodo = leave_one_device_out(ms, catalog)
    by_device_lodo: dict[str, list[float]] = defaultdict(list)
    for (m, _), e in zip(lodo, abs_pct_errors(lodo), strict=True):
        by_device_lodo[m.device].append(e)
    print(f"  {'device':<26}{'n':>4}{'LOO MdAPE':>12}{'LODO MdAPE':>12}")
    for device in sorted(by_device):
        v, w = by_device[device], by_device_lodo[device]
        print(f"  {device:<26}{len(v):>4}{statistics.median(v):>11.1f}%{statistics.median(w):>11.1f}%")
    loo = median_abs_pct_error(pairs)
    per_device = statistics.median(statistics.median(v) for v in by_device.values())
    print(f"  leave-one-out MdAPE: {loo:.1f}% (target <= 35%)  [{'PASS' if loo <= 35 else 'FAIL'}]")
    print(f"  median over devices of their LOO MdAPE: {per_device:.1f}%")
    print(f"  leave-one-device-out MdAPE: {median_abs_pct_error(lodo):.1f}%")
    return loo


def sgemm_gflops(n: int = 1024, repeats: int = 9) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def host_device(peak_gflops: float) -> Device:
    return Device(
        slug="this-host",
        name="this machine",
        cpu=Cpu(cores=os.cpu_count() or 1, isa="measured", clock_ghz=1.0, arch="x86_64"),
        peak_gops={"cpu": {"fp32": peak_gflops}},
        targets=[Target(runtime="onnxruntime", unit="cpu", precisions=["fp32"])],
        sources={"peak_gops": "numpy sgemm measured in this run"},
    )


def host(rounds: int, runs: int) -> float:
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        predictors, works = {}, {}
        for w in WIDTHS:
            for s in SIZES:
                onnx_path = random_yolo(Path(tmp) / f"w{w}-{s}.onnx", imgsz=s, width=w)
                p = profile_onnx(onnx_path)
                works[(w, s)] = Workload(p.gflops, p.params, s)
                bundle = import_onnx(onnx_path, Path(tmp) / f"b{w}-{s}")
                config = OnnxRuntimeConfig(intra_op_threads=threads, allow_spinning=False)
                predictors[(w, s)] = Predictor(bundle, config)
        image = (np.random.default_rng(0).integers(0, 255, (480, 640, 3))).astype(np.uint8)
        samples: dict[tuple[float, int], list[float]] = defaultdict(list)
        peaks = []
        for r in range(rounds):  # interleaved: every model (and the sgemm peak) once per round
            peaks.append(sgemm_gflops())
            keys = list(predictors) if r % 2 == 0 else list(reversed(list(predictors)))
            for key in keys:
                predictor = predictors[key]
                predictor.predict_timed(image)  # warm
                samples[key] += [predictor.predict_timed(image)[1].infer_s * 1e3 for _ in range(runs)]
        for predictor in predictors.values():
            predictor.close()
    peak = statistics.median(peaks)
    device = host_device(peak)
    published_cal = fit(load_measurements(), load_catalog())
    points = []
    for key in ANCHORS:
        compute, memory = ideal_ms(works[key], device, "cpu", "fp32")
        points.append((compute, memory, statistics.median(samples[key])))
    host_factor = fit_group(points)
    host_cal = Calibration(factors={"onnxruntime/fp32/cpu/x86_64": host_factor})
    print(f"\nthis machine: {threads} threads, numpy sgemm {peak:.0f} GFLOP/s (median of {rounds} rounds)")
    print(
        f"  host fit from the anchors: efficiency {host_factor.efficiency:.2f}, "
        f"overhead {host_factor.overhead_ms:.1f} ms"
    )
    print(
        f"  {'model':<12}{'GFLOPs':>8}{'measured':>10}{'anchored':>10}{'err':>7}"
        f"{'published-only':>16}{'err':>7}"
    )
    errors = []
    for key in predictors:
        work, measured = works[key], statistics.median(samples[key])
        anchored = predict(work, device, "onnxruntime", "cpu", "fp32", host_cal).latency_ms
        cross = predict(work, device, "onnxruntime", "cpu", "fp32", published_cal).latency_ms
        e1, e2 = 100 * (anchored - measured) / measured, 100 * (cross - measured) / measured
        tag = " (anchor)" if key in ANCHORS else ""
        if key not in ANCHORS:
            errors.append(abs(e1))
        name = f"w{key[0]}@{key[1]}"
        print(
            f"  {name:<12}{work.gflops:>8.2f}{measured:>9.1f}ms{anchored:>8.1f}ms{e1:>+6.0f}%"
            f"{cross:>14.1f}ms{e2:>+6.0f}%{tag}"
        )
    worst = max(errors)
    print(
        f"  anchored: worst |error| over the 4 predicted = {worst:.0f}% (target <= 30%)  "
        f"[{'PASS' if worst <= 30 else 'FAIL'}]"
    )
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per model per round")
    parser.add_argument("--skip-host", action="store_true")
    args = parser.parse_args()
    loo = published()
    ok = loo <= 35
    if not args.skip_host:
        ok = host(args.rounds, args.runs) <= 30 and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
