#!/usr/bin/env python
"""Run the bad-model corpus through the OTA checks and count what they catch (missed must be 0).

Each run builds the ten kinds afresh from the good bundle (the slow kind is
calibrated again on this machine), signs them, and checks every kind the way the
agent would: the nine health-check kinds with ``ProcessHealthCheck`` against the good
version, ``worse_live`` (which passes the health check by design) with ``StatsWindow``
over a real serving thread and its stats file. A good re-release (same model, version 2)
goes through both checks each run too, to count false rejections.

    python benchmarks/bad_models.py [--runs 5] [--window-s 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from edgeloop.agent.healthcheck import ProcessHealthCheck
from edgeloop.agent.window import StatsWindow
from edgeloop.bundle import read_manifest, write_manifest
from edgeloop.signing import generate_key
from edgeloop.testing.bad_models import (
    HEALTH_KINDS,
    KINDS,
    build_candidate,
    good_bundle,
    live_frames,
    sign_candidate,
)
from edgeloop.testing.traffic import live_release


def _good_v2(good: Path, dest: Path) -> Path:
    shutil.copytree(good, dest, ignore=shutil.ignore_patterns("bundle.sig"))
    write_manifest(dest, read_manifest(dest).model_copy(update={"version": "2"}))
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window-s", type=float, default=3.0)
    parser.add_argument("--cpu-limit-s", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    check = ProcessHealthCheck(timeout_s=60.0, cpu_limit_s=args.cpu_limit_s)
    window = StatsWindow(duration_s=args.window_s, poll_s=0.2, pickup_timeout_s=10.0)
    tried: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    reasons: dict[str, set[str]] = defaultdict(set)
    seconds: Counter[str] = Counter()
    false_rejects: list[str] = []
    start = time.perf_counter()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            keys = folder / "keys"
            generate_key(keys, note="bad-model benchmark")
            good = sign_candidate(good_bundle(folder), keys)
            good_v2 = sign_candidate(_good_v2(good, folder / "good_v2"), keys)
            for kind in KINDS:
                candidate = sign_candidate(build_candidate(good, kind, folder / kind), keys)
                t = time.perf_counter()
                if kind in HEALTH_KINDS:
                    verdict = check(candidate, good)
                else:
                    frames = live_frames(seed=run, colours=("red", "green", "blue", "blue"))
                    verdict = live_release(folder / f"models-{kind}", good, candidate, window, frames)
                seconds[kind] += time.perf_counter() - t
                tried[kind] += 1
                if not verdict.ok:
                    caught[kind] += 1
                    ratio = verdict.detail.get("latency_ratio")
                    reasons[kind].add(f"too slow ({ratio:.0f}x)" if ratio else verdict.reason.split(":")[0])
            verdict = check(good_v2, good)
            if not verdict.ok:
                false_rejects.append(f"run {run} health: {verdict.reason}")
            frames = live_frames(seed=100 + run, colours=("red", "green", "blue", "blue"))
            verdict = live_release(folder / "models-good", good, good_v2, window, frames)
            if not verdict.ok:
                false_rejects.append(f"run {run} window: {verdict.reason}")
        print(
            f"run {run + 1}/{args.runs} done ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    rows = [
        {
            "kind": kind,
            "check": "health" if kind in HEALTH_KINDS else "window",
            "tried": tried[kind],
            "caught": caught[kind],
            "missed": tried[kind] - caught[kind],
            "s_per_check": round(seconds[kind] / max(tried[kind], 1), 2),
            "reasons": sorted(reasons[kind]),
        }
        for kind in KINDS
    ]
    total = {"tried": sum(tried.values()), "caught": sum(caught.values())}
    total["missed"] = total["tried"] - total["caught"]
    good_tried = 2 * args.runs
    if args.json:
        print(
            json.dumps(
                {"kinds": rows, "total": total, "good_tried": good_tried, "false_rejects": false_rejects}
            )
        )
    else:
        print(
            f"{'kind':20s} {'check':7s} {'tried':>5s} {'caught':>6s} {'missed':>6s} {'s/check':>7s}  reason"
        )
        for r in rows:
            print(
                f"{r['kind']:20s} {r['check']:7s} {r['tried']:5d} {r['caught']:6d} {r['missed']:6d} "
                f"{r['s_per_check']:7.2f}  {'; '.join(r['reasons'])}"
            )
        print(f"{'total':28s} {total['tried']:5d} {total['caught']:6d} {total['missed']:6d}")
        print(f"good re-release: {good_tried} checks, {len(false_rejects)} false rejections")
        for line in false_rejects:
            print("  " + line)
    return 0 if total["missed"] == 0 and not false_rejects else 1


if __name__ == "__main__":
    sys.exit(main())
