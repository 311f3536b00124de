#!/usr/bin/env python
"""The OTA acceptance counts with the real processes: every bad-model kind and every unverified
bundle kind, several runs each, through the hub, the device's agent and `edgeloop serve --models`
under 16 clients (edgeloop.testing.ota_rig).

Each run rolls out, in turn: a good version (must be committed), each of the 10 bad-model kinds
(must be rejected or rolled back) and each of the 5 unverified bundles (must be rejected before
staging). Every rollout has the one device as its canary, so a refused one must also leave the
rollout halted with a reason naming the device. Before each rollout --steady seconds of plain
traffic are measured. Prints per kind: runs, caught (rejected / rolled back, or committed for the
good row), missed, the hub showing the reason (device row final with a reason, rollout halted),
failed requests during those rollouts, and p99 latency: steady, around the switches the load
generator saw (1 s either side; the whole rollout span for kinds that never switch), their ratio.

    python benchmarks/ota_e2e.py [--runs 5] [--window-s 2] [--check-timeout-s 15] [--check-cpu-s S]
        [--kinds good crash_worker ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.testing.bad_models import KINDS, build_candidate
from edgeloop.testing.loadgen import Report
from edgeloop.testing.ota_bundles import UNVERIFIED, UNVERIFIED_REASON
from edgeloop.testing.ota_rig import DEVICE, OtaRig, Update, switch_times

WANTED = {kind: ("rejected", "rolled_back") for kind in (*KINDS, *UNVERIFIED)} | {"good": ("committed",)}


@dataclass
class Row:
    kind: str
    updates: list[Update] = field(default_factory=list)
    shown: int = 0  # final state with a reason on the hub (refused ones: rollout halted too)


def _shown(kind: str, update: Update) -> bool:
    if not update.reason:
        return False
    if kind == "good":
        return update.shown["state"] == "done"
    halted = update.shown["state"] == "halted" and DEVICE in str(update.shown["reason"])
    expected = UNVERIFIED_REASON.get(kind, "")
    return halted and expected.lower() in update.reason.lower()


def _p99(latencies: list[float]) -> float:
    return float(np.percentile(latencies, 99)) if latencies else float("nan")


def _during(report: Report, updates: list[Update], switches: list[float]) -> tuple[list[float], int, str]:
    """Latencies (ms) around this kind's switches (else over its rollouts), its failed requests, which."""
    spans = [(u.started, u.ended + 0.5) for u in updates]
    mine = [s for s in switches if any(a <= s <= b for a, b in spans)]
    around = [(s - 1.0, s + 1.0) for s in mine] or spans
    seen = {id(r): r for a, b in around for r in report.between(a, b)}
    failed = len({id(r) for a, b in spans for r in report.between(a, b) if not r.ok})
    return [r.latency_s * 1000 for r in seen.values() if r.ok], failed, "switch" if mine else "rollout"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--steady", type=float, default=1.5, help="seconds of plain traffic before each rollout"
    )
    parser.add_argument("--window-s", type=float, default=2.0)
    parser.add_argument("--check-timeout-s", type=float, default=15.0)
    parser.add_argument(
        "--check-cpu-s", type=float, default=None, help="the agent's --check-cpu-s [its default]"
    )
    parser.add_argument("--kinds", nargs="*", default=["good", *KINDS, *UNVERIFIED])
    args = parser.parse_args()
    rows = {kind: Row(kind) for kind in args.kinds}
    steady: list[tuple[float, float]] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgeloop-ota-e2e-") as tmp:
        work = Path(tmp)
        rig = OtaRig(
            work,
            window_s=args.window_s,
            clients=args.clients,
            check_timeout_s=args.check_timeout_s,
            check_cpu_s=args.check_cpu_s,
        )
        try:
            rig.start()
            assert rig.good is not None
            corpus = {k: build_candidate(rig.good, k, work / "corpus" / k) for k in args.kinds if k in KINDS}
            first = rig.update(rig.publish(rig.good))
            if first.state != "committed":
                raise SystemExit(f"the first version was not committed: {first.reason}")
            rig.serve()
            time.sleep(2.0)
            for run in range(1, args.runs + 1):
                for kind in args.kinds:
                    start = time.monotonic()
                    time.sleep(args.steady)
                    steady.append((start, time.monotonic()))
                    if kind in UNVERIFIED:
                        version = rig.publish_unverified(kind)
                    else:
                        version = rig.publish(corpus.get(kind, rig.good))
                    update = rig.update(version)
                    rows[kind].updates.append(update)
                    shown = _shown(kind, update)
                    rows[kind].shown += shown
                    if not shown:
                        rollout = update.shown
                        print(f"  the hub does not show it: rollout {rollout['state']} ({rollout['reason']})")
                    print(
                        f"run {run} {kind:<20} {update.state:<11} {update.ended - update.started:5.1f} s  "
                        f"{update.reason[:110]}",
                        flush=True,
                    )
            time.sleep(1.0)
        finally:
            report = rig.stop() or Report()
    _table(rows, report, steady, args.clients, time.monotonic() - began)
    return 0


def _table(
    rows: dict[str, Row], report: Report, steady: list[tuple[float, float]], clients: int, took: float
) -> None:
    steady_lat = [r.latency_s * 1000 for a, b in steady for r in report.between(a, b) if r.ok]
    steady_p99 = _p99(steady_lat)
    switches = switch_times(report)
    print(
        f"\n{clients} clients, {report.total} requests, {report.failed} failed, {len(switches)} version "
        f"changes seen by the clients, {took / 60:.1f} min; p99 steady {steady_p99:.1f} ms"
    )
    head = f"{'kind':<20} {'runs':>4} {'caught':>6} {'missed':>6} {'hub shows':>9} {'failed req':>10}"
    print(f"{head} {'p99 steady':>10} {'p99 during':>10} {'ratio':>5}  over")
    all_during: list[float] = []
    for row in rows.values():
        caught = sum(u.state in WANTED[row.kind] for u in row.updates)
        during, failed, over = _during(report, row.updates, switches)
        all_during += during if over == "switch" else []
        p99 = _p99(during)
        print(
            f"{row.kind:<20} {len(row.updates):>4} {caught:>6} {len(row.updates) - caught:>6} "
            f"{row.shown:>9} {failed:>10} {steady_p99:>10.1f} {p99:>10.1f} {p99 / steady_p99:>5.2f}  {over}"
        )
    p99 = _p99(all_during)
    print(
        f"{'all switches':<20} {'':>4} {'':>6} {'':>6} {'':>9} {report.failed:>10} {steady_p99:>10.1f} "
        f"{p99:>10.1f} {p99 / steady_p99:>5.2f}  switch"
    )


if __name__ == "__main__":
    raise SystemExit(main())
