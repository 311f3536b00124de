"""Fault harness for the whole capture -> sync -> hub path (issue 14: nothing lost, nothing doubled).

A conductor runs three things and breaks them on purpose while N synthetic frames are captured:

- the device (``python -m edgeloop.testing.loop_device ...``): the real
  ``Capture`` into a ``Spool`` and the real ``BackgroundSync`` to the hub; killed with SIGKILL
  at random moments (and restarted with ``EDGELOOP_CRASH_AT`` set, to crash at each named point
  of the spool's and sync's protocols); it resumes from its progress file;
- the hub (``edgeloop hub serve``, SQLite + folder, or PostgreSQL + S3 on moto's server),
  killed with SIGKILL at random moments and restarted on the same port;
- a ``FaultProxy`` between them that drops, resets, stalls and cuts (mid-body) a share of
  connections for the whole run, and cuts every live connection every few seconds.

When every frame was offered, faults stop, the device is stopped, ``edgeloop sync --once``
drains the spool, and ``loop_check.check_loop`` compares the two sides. Used by
tests/hub/test_loop_faults.py (small counts) and benchmarks/hub_faults.py (issue 14's counts).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeloop.testing.hub_server import HubServer
from edgeloop.testing.loop_check import HubStore, LoopCheck, check_loop, spool_states
from edgeloop.testing.loop_device import DEVICE_NAME, TOKEN_ENV, read_progress

CRASH_POINTS = ("temp_written", "file_renamed", "sync_uploaded", "acked")
SYNC_POINTS = ("sync_uploaded", "acked")


@dataclass(frozen=True)
class LoopOptions:
    """One run's sizes and fault rates (probabilities are per proxied connection)."""

    frames: int = 400
    device_kills: int = 8
    hub_kills: int = 3
    crash_rounds: int = 1  # per named crash point
    seed: int = 0
    backend: str = "sqlite"  # one of BACKENDS
    proxy: bool = True
    fault_rate: float = 0.05  # each of drop, reset, stall, mid_body
    stall_s: float = 2.0
    cut_every_s: tuple[float, float] = (5.0, 20.0)
    batch: int = 8
    device_timeout_s: float = 10.0
    max_kill_delay_s: float = 0.3
    max_hub_down_s: float = 1.0
    fps: float = 25.0
    stuck_s: float = 300.0


@dataclass
class LoopReport:
    """What was done to the loop and what the final check found."""

    options: dict[str, Any] = field(default_factory=dict)
    device_kills: int = 0
    hub_kills: int = 0
    crash_points: dict[str, int] = field(default_factory=dict)
    crash_points_missed: dict[str, int] = field(default_factory=dict)
    device_exits: dict[str, int] = field(default_factory=dict)  # exits nobody asked for, by code
    device_errors: list[str] = field(default_factory=list)  # the last log line of each such exit
    device_starts: int = 0
    proxy: dict[str, int] = field(default_factory=dict)
    acked_before_drain: int = 0
    drain: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    check: LoopCheck = field(default_factory=LoopCheck)

    def bad(self) -> dict[str, int]:
        """Counts that must be 0: the check's, and device exits that no kill explains."""
        return {**self.check.bad(), **{f"device_exit:{k}": v for k, v in self.device_exits.items()}}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "check": self.check.as_dict(), "bad": self.bad()}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("EDGELOOP_CRASH_AT", None)
    return {**env, **(extra or {})}


BACKENDS = ("sqlite", "postgresql", "postgresql-s3")


@contextlib.contextmanager
def hub_backend(root: Path, backend: str) -> Iterator[tuple[HubStore, HubServer]]:
    """A hub server (not started) and its store: SQLite + folder (the one-box default),
    PostgreSQL + folder, or PostgreSQL + S3 on moto's server."""
    data = root / "hub-data"
    if backend == "sqlite":
        yield HubStore(f"sqlite:///{data / 'hub.db'}", str(data / "blobs")), HubServer(data)
        return
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: one of {', '.join(BACKENDS)}")
    from edgeloop.testing.servers import create_bucket, fresh_database, moto_server, postgres_server, s3_env

    with postgres_server() as server_url:
        db_url = fresh_database(server_url)
        if backend == "postgresql":
            blobs = str(data / "blobs")
            yield HubStore(db_url, blobs), HubServer(data, db_url=db_url, blobs_url=blobs)
            return
        with moto_server() as endpoint:
            create_bucket(endpoint, "loop-faults")
            store = HubStore(db_url, "s3://loop-faults/hub", endpoint)
            yield store, HubServer(data, db_url=db_url, blobs_url=store.blobs, env=s3_env(endpoint))


class _Conductor:
    def __init__(self, root: Path, options: LoopOptions, hub: HubServer, token: str) -> None:
        self.root, self.options, self.hub, self.token = root, options, hub, token
        self.spool, self.progress = root / "spool", root / "progress.log"
        self.kept_log, self.device_log = root / "kept.log", root / "device.log"
        self.rng = random.Random(options.seed)
        self.report = LoopReport(options=asdict(options))
        self.proxy: Any = None
        self.device: subprocess.Popen[bytes] | None = None
        self.cuts = 0

    @property
    def device_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}" if self.proxy is not None else self.hub.url

    def start_proxy(self) -> None:
        from edgeloop.testing.fault_proxy import FaultProxy

        rate = self.options.fault_rate
        self.proxy = FaultProxy(
            self.hub.port, seed=self.options.seed, drop=rate, reset=rate, stall=rate, mid_body=rate,
            stall_s=self.options.stall_s, mid_body_max_bytes=64 * 1024,
        ).start()  # fmt: skip

    def start_device(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        o = self.options
        args = [
            sys.executable, "-m", "edgeloop.testing.loop_device",
            "--spool", str(self.spool), "--hub", self.device_url, "--frames", str(o.frames),
            "--seed", str(o.seed), "--progress", str(self.progress), "--kept-log", str(self.kept_log),
            "--batch", str(o.batch), "--timeout", str(o.device_timeout_s), "--fps", str(o.fps),
        ]  # fmt: skip
        extra = {TOKEN_ENV: self.token, **({"EDGELOOP_CRASH_AT": crash_at} if crash_at else {})}
        with open(self.device_log, "ab") as log:
            log.write(f"--- start{' crash_at=' + crash_at if crash_at else ''}\n".encode())
            log.flush()
            self.device = subprocess.Popen(args, env=_env(extra), stdout=log, stderr=subprocess.STDOUT)
        self.report.device_starts += 1
        return self.device

    def kill_device(self) -> None:
        if self.device is not None and self.device.poll() is None:
            os.kill(self.device.pid, signal.SIGKILL)
            self.device.wait()
            self.report.device_kills += 1

    def crash_round(self, point: str) -> None:
        """Restart the device with ``EDGELOOP_CRASH_AT=point`` and wait until it crashes there."""
        self.kill_device()
        proc = self.start_device(point)
        try:
            code = proc.wait(90)
        except subprocess.TimeoutExpired:
            self.kill_device()
            self.report.crash_points_missed[point] = self.report.crash_points_missed.get(point, 0) + 1
        else:
            if code == -signal.SIGKILL:
                self.report.crash_points[point] = self.report.crash_points.get(point, 0) + 1
            else:
                self.unexpected_exit(code)
        self.start_device()

    def unexpected_exit(self, code: int) -> None:
        self.report.device_exits[str(code)] = self.report.device_exits.get(str(code), 0) + 1
        lines = [line for line in self.log_tail().splitlines() if line.strip()]
        self.report.device_errors.append(lines[-1][:500] if lines else f"exit {code}, no output")
        if sum(self.report.device_exits.values()) > 5:
            raise RuntimeError(f"the device keeps exiting (last: {code}):\n{self.log_tail()}")

    def restart_hub(self) -> None:
        self.hub.kill()
        self.report.hub_kills += 1
        time.sleep(self.rng.uniform(0.0, self.options.max_hub_down_s))
        self.hub.start()

    def log_tail(self) -> str:
        text = self.device_log.read_text(errors="replace") if self.device_log.exists() else ""
        return text[-3000:]

    def schedule(self) -> list[tuple[int, str, str]]:
        """Events (threshold, measure, what), in order of threshold within each measure.

        Random device kills and hub kills wait for ``work`` (frames offered + samples acked,
        0..2N), so they land while capture runs and while sync catches up; the spool's crash
        points wait for a frame count, sync's for an acked count.
        """
        o, rng = self.options, self.rng
        end = max(2, 2 * o.frames - 2 * o.batch)
        events = [(rng.randrange(1, end), "work", "kill") for _ in range(o.device_kills)]
        events += [(rng.randrange(1, end), "work", "hub") for _ in range(o.hub_kills)]
        for point in CRASH_POINTS:
            measure = "acked" if point in SYNC_POINTS else "frames"
            low, high = max(1, o.frames // 10), max(2, o.frames // 2)  # early: frames are left to capture
            events += [(rng.randrange(low, high), measure, point) for _ in range(o.crash_rounds)]
        return sorted(events)

    def work(self) -> tuple[int, int]:
        """(frames offered, samples acked) so far."""
        acked = spool_states(self.spool).get("acked", 0) if (self.spool / "spool.db").exists() else 0
        return read_progress(self.progress), acked

    def run_faults(self) -> None:
        """Capture every frame, and sync most of them, while the faults happen."""
        pending = self.schedule()
        self.start_device()
        # The first cut comes within 1-4 s, so even a short run (200 frames at 40 fps: 5 s) has one.
        next_cut = time.monotonic() + self.rng.uniform(1.0, min(4.0, self.options.cut_every_s[0]))
        last, last_change = -1, time.monotonic()
        while True:
            progress, acked = self.work()
            measures = {"work": progress + acked, "frames": progress, "acked": acked}
            if progress >= self.options.frames and not pending:
                break
            now = time.monotonic()
            if measures["work"] != last:
                last, last_change = measures["work"], now
            elif progress >= self.options.frames and now - last_change > self.options.stuck_s / 5:
                break  # sync makes no headway: the drain and the check say why
            elif now - last_change > self.options.stuck_s:
                raise RuntimeError(f"no progress at frame {progress}, {acked} acked, for "
                                   f"{self.options.stuck_s} s:\n{self.log_tail()}")  # fmt: skip
            assert self.device is not None
            due = next((e for e in pending if measures[e[1]] >= e[0]), None)
            if (code := self.device.poll()) is not None:
                self.unexpected_exit(code)
                self.start_device()
            elif due is not None:
                pending.remove(due)
                self.handle(due[2], progress)
            if self.proxy is not None and now >= next_cut:
                self.proxy.cut_live()
                self.cuts += 1
                next_cut = now + self.rng.uniform(*self.options.cut_every_s)
            time.sleep(0.05)
        for _, _, kind in pending:  # none, normally
            self.report.crash_points_missed[kind] = self.report.crash_points_missed.get(kind, 0) + 1

    def handle(self, what: str, progress: int) -> None:
        if what == "kill":
            time.sleep(self.rng.uniform(0.0, self.options.max_kill_delay_s))
            self.kill_device()
            self.start_device()
        elif what == "hub":
            self.restart_hub()
        elif what in SYNC_POINTS or progress < self.options.frames - 5:
            self.crash_round(what)
        else:  # every frame was captured meanwhile: the spool's points cannot be reached now
            self.report.crash_points_missed[what] = self.report.crash_points_missed.get(what, 0) + 1

    def stop_device(self) -> None:
        """SIGTERM: the device finishes its frame, stops sync and closes the spool."""
        if self.device is None or self.device.poll() is not None:
            return
        self.device.terminate()
        try:
            code = self.device.wait(60)
        except subprocess.TimeoutExpired:
            self.kill_device()
            code = 0
        if code not in (0, -signal.SIGTERM):  # SIGTERM before its handler was set: still starting
            self.unexpected_exit(code)

    def drain(self, attempts: int = 5) -> dict[str, Any]:
        """``edgeloop sync --once`` straight to the hub until the spool holds nothing."""
        args = [
            sys.executable, "-m", "edgeloop", "sync", "--spool", str(self.spool), "--hub", self.hub.url,
            "--once", "--batch", str(self.options.batch), "--summary-json",
        ]  # fmt: skip
        summary: dict[str, Any] = {}
        for attempt in range(attempts):
            done = subprocess.run(args, env=_env({TOKEN_ENV: self.token}), capture_output=True, timeout=600)
            lines = [line for line in done.stderr.decode().splitlines() if line.startswith("{")]
            summary = {
                **(json.loads(lines[-1]) if lines else {}),
                "exit": done.returncode,
                "runs": attempt + 1,
            }
            if done.returncode == 0 and summary.get("backlog") == 0:
                return summary
            if not self.hub.alive():
                self.hub.start()
        summary["stderr"] = done.stderr.decode()[-2000:]
        return summary


def run_loop(root: Path, options: LoopOptions) -> LoopReport:
    """Run the whole harness in ``root`` (an empty folder) and check the result."""
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    with hub_backend(root, options.backend) as (store, hub):
        hub.start()
        conductor: _Conductor | None = None
        try:
            conductor = _Conductor(root, options, hub, hub.add_device(DEVICE_NAME))
            if options.proxy:
                conductor.start_proxy()
            conductor.run_faults()
            report = conductor.report
            if conductor.proxy is not None:
                conductor.proxy.set_mode()  # faults stop: a plain proxy from now on
            if not hub.alive():
                hub.start()
            conductor.stop_device()
            report.acked_before_drain = spool_states(conductor.spool).get("acked", 0)
            report.drain = conductor.drain()
        finally:
            if conductor is not None:
                conductor.kill_device()
                if conductor.proxy is not None:
                    conductor.report.proxy = {**conductor.proxy.counts, "cut_live": conductor.cuts}
                    conductor.proxy.stop()
            hub.stop()
        report.check = check_loop(conductor.spool, conductor.kept_log, store, options.frames, options.seed)
    report.duration_s = round(time.monotonic() - started, 1)
    return report


def report_table(report: LoopReport) -> str:
    """The numbers a reader checks, one per line."""
    c = report.check
    faults = ", ".join(f"{k} {v}" for k, v in report.proxy.items()) or "no proxy"
    rows = [
        ("frames", c.frames),
        ("device kills (random)", report.device_kills),
        ("device crash points", ", ".join(f"{k} {v}" for k, v in report.crash_points.items()) or "-"),
        ("hub kills", report.hub_kills),
        ("proxy connections", faults),
        ("samples captured", c.captured),
        ("samples at the hub", c.at_hub),
        ("acked before the drain", report.acked_before_drain),
        ("not captured", c.not_captured),
        ("lost", c.lost),
        ("duplicated", c.duplicated),
        ("corrupt", c.corrupt),
        ("rows without blob", c.rows_without_blob),
        ("leftovers (temp, uploads)", c.leftovers),
        ("spool held after drain", c.spool_live),
        ("spool integrity / verify", f"{c.spool_integrity} / {c.spool_bad_files} bad files"),
        ("hub database integrity", c.hub_integrity),
        ("unexpected device exits", sum(report.device_exits.values())),
        ("wall time", f"{report.duration_s} s"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
