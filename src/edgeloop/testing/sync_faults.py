"""Fault harness for sync: kill -9 ``edgeloop sync`` at random moments and at its crash points.

Used by tests/improve/test_sync_faults.py (small counts) and benchmarks/sync_faults.py
(full counts). A spool is filled with real JPEGs; a capture child keeps adding more
through ``Spool`` (the writer, holding the spool's lock) while ``edgeloop sync
--spool S --to TARGET`` runs in its own process and is killed with SIGKILL at random
moments and restarted; ``EDGELOOP_CRASH_AT=sync_uploaded|acked`` crashes it inside
the ack protocol. At the end a last ``sync --once`` drains the spool and every
sample captured must be in the target folder exactly once and whole.

``python -m edgeloop.testing.sync_faults capture SPOOL LOG SEED COUNT INTERVAL_S`` is the capture child.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.imaging import encode_jpeg
from edgeloop.improve.policy import Budget
from edgeloop.improve.records import SampleRecord
from edgeloop.improve.spool import Spool


def sample_jpeg(rng: np.random.Generator, size_wh: tuple[int, int] = (48, 32)) -> bytes:
    """A small random JPEG (real image bytes, which a hub's decoder accepts)."""
    w, h = size_wh
    return encode_jpeg(rng.integers(0, 256, (h, w, 3), np.uint8), quality=85)


def sample_record(rng: np.random.Generator, wall_time: float) -> SampleRecord:
    """A record with a random score and one prediction."""
    prediction = {"x": 10.0, "y": 8.0, "width": 6.0, "height": 4.0, "confidence": 0.5, "class": "car"}
    predictions = {"image": {"width": 48, "height": 32}, "predictions": [prediction]}
    score = float(rng.random())
    return SampleRecord(
        "sync-test", "synthetic", "1", predictions, "random", score, "test", ("t",), wall_time, 48, 32
    )


def fill_spool(spool_dir: Path, count: int, seed: int) -> list[str]:
    """Add ``count`` distinct samples; their sha256s."""
    rng = np.random.default_rng(seed)
    added = []
    with Spool(spool_dir) as spool:
        for i in range(count):
            stored = spool.add(sample_jpeg(rng), sample_record(rng, 1.7e9 + i), Budget())
            if not isinstance(stored, str):
                added.append(stored.sha256)
    return added


def capture_child(spool_dir: Path, log: Path, seed: int, count: int, interval_s: float) -> None:
    """Add ``count`` samples, one every ``interval_s``, logging ``K <sha256>`` (fsynced) after each."""
    rng = np.random.default_rng(seed)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with Spool(spool_dir) as spool:
        os.write(fd, b"R\n")
        os.fsync(fd)
        for i in range(count):
            stored = spool.add(sample_jpeg(rng), sample_record(rng, 1.8e9 + i), Budget())
            if not isinstance(stored, str):
                os.write(fd, f"K {stored.sha256}\n".encode())
                os.fsync(fd)
            time.sleep(interval_s)


@dataclass
class TargetCheck:
    """What the target folder and the spool hold after the last drain."""

    expected: int = 0
    at_target: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupt: int = 0
    unexpected: int = 0
    temp_files: int = 0
    spool_held: int = 0
    spool_integrity: str = ""
    spool_orphans: int = 0
    acked_counter: int = 0
    acked_rows: int = 0


@dataclass(frozen=True)
class HubTarget:
    """A running hub to sync to: its URL, a device token, and the admin token to check it."""

    url: str
    token: str
    admin_token: str


def sync_command(spool_dir: Path, target: Path | HubTarget, rate: str | None) -> list[str]:
    """``edgeloop sync --spool S (--to DIR | --hub URL) --once`` as a child process command."""
    where = ["--hub", target.url, "--batch", "4"] if isinstance(target, HubTarget) else ["--to", str(target)]
    args = [sys.executable, "-m", "edgeloop.cli", "sync", "--spool", str(spool_dir), *where, "--once"]
    return [*args, "--rate", rate] if rate else args


def hub_held(hub: HubTarget) -> dict[str, bytes]:
    """Every sample the hub lists (sha256 -> image bytes), through the admin API, all pages."""
    import http.client
    from urllib.parse import quote, urlsplit

    parts = urlsplit(hub.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {hub.admin_token}"}
    held: dict[str, bytes] = {}
    listed: list[str] = []
    after = ""
    try:
        while True:
            cursor = f"&after={quote(after)}" if after else ""
            conn.request("GET", f"/api/v1/samples?limit=500{cursor}", headers=headers)
            page = json.loads(conn.getresponse().read())
            listed += [s["sha256"] for s in page["samples"]]
            after = page.get("next") or page.get("after") or ""
            if not page["samples"] or not after:
                break
        for sha in listed:
            conn.request("GET", f"/api/v1/samples/{sha}/image", headers=headers)
            held[sha] = conn.getresponse().read()
    finally:
        conn.close()
    if len(listed) != len(held):
        held["duplicated"] = b""  # the same sha256 listed twice
    return held


def check_target(target: Path | HubTarget, spool_dir: Path, expected: set[str]) -> TargetCheck:
    """Every expected sha256 once at the target and whole; the spool drained and sound.

    A folder: ``<sha>.jpg`` matching its name and a sidecar naming it. A hub: the admin API's
    listing, each image read back and hashed.
    """
    check = TargetCheck(expected=len(expected))
    if isinstance(target, HubTarget):
        held = hub_held(target)
        check.duplicated = int(held.pop("duplicated", None) is not None)
        names = list(held)
        check.corrupt = sum(hashlib.sha256(data).hexdigest() != sha for sha, data in held.items())
    else:
        images = sorted(target.glob("*.jpg"))
        names = [p.stem for p in images]
        check.duplicated = len(names) - len(set(names))
        for path in images:
            try:
                meta_ok = json.loads(path.with_suffix(".json").read_text())["sha256"] == path.stem
            except (OSError, ValueError, KeyError):
                meta_ok = False
            if hashlib.sha256(path.read_bytes()).hexdigest() != path.stem or not meta_ok:
                check.corrupt += 1
        temp = target / ".tmp"
        check.temp_files = sum(1 for _ in temp.glob("*")) if temp.is_dir() else 0
    check.at_target = len(names)
    check.lost = len(expected - set(names))
    check.unexpected = len(set(names) - expected)
    with Spool(spool_dir) as spool:
        check.spool_held = spool.size[0]
        check.spool_integrity = spool.integrity()
        check.spool_orphans = sum(1 for _ in spool.images.iterdir())
        check.acked_counter = spool.counters().get("acked", 0)
        check.acked_rows = len(spool.samples("acked"))
    return check


@dataclass
class SyncKillReport:
    """Kills done and the final check."""

    kills: int = 0
    crash_points: dict[str, int] = field(default_factory=dict)
    finished_rounds: int = 0
    check: TargetCheck = field(default_factory=TargetCheck)
    duration_s: float = 0.0


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("EDGELOOP_CRASH_AT", None)
    return {**env, **(extra or {})}


def sync_kill_rounds(
    root: Path,
    kills: int,
    seed: int = 0,
    initial: int = 200,
    captured: int = 200,
    rate: str | None = "150k",
    max_delay_s: float = 1.5,
    points: tuple[str, ...] = ("sync_uploaded", "acked"),
    hub: HubTarget | None = None,
) -> SyncKillReport:
    """Kill ``edgeloop sync`` ``kills`` times at random moments and once at each crash point, while a
    capture child adds ``captured`` samples; then drain and check the target (a folder under
    ``root``, or ``hub``). A sync that finishes before its random kill is started again (up to
    ``2 * kills`` times in all), so a fast machine gets the same number of kills as a slow one."""
    spool_dir, log = root / "spool", root / "captured.log"
    target: Path | HubTarget = hub if hub is not None else root / "target"
    token_env = {"EDGELOOP_HUB_TOKEN": hub.token} if hub is not None else {}
    start = time.monotonic()
    rng, report = random.Random(seed), SyncKillReport()
    expected = set(fill_spool(spool_dir, initial, seed))
    interval = max(0.001, kills * max_delay_s * 0.5 / max(1, captured))
    child = [sys.executable, "-m", "edgeloop.testing.sync_faults", "capture", str(spool_dir), str(log)]
    capture = subprocess.Popen([*child, str(seed + 1), str(captured), str(interval)], env=_env())
    try:
        schedule = ["random"] * kills
        for i, point in enumerate(points):  # crash points spread among the random kills
            schedule.insert((i + 1) * len(schedule) // (len(points) + 1), point)
        retries = 2 * kills  # a round that drains before its kill is run again, up to this many times
        for what in schedule:
            env = _env({**token_env, **({"EDGELOOP_CRASH_AT": what} if what != "random" else {})})
            again = True
            while again:
                again = False
                proc = subprocess.Popen(
                    sync_command(spool_dir, target, rate), env=env, stderr=subprocess.PIPE
                )
                if what == "random":
                    try:
                        proc.wait(rng.uniform(0.0, max_delay_s))
                        report.finished_rounds += 1  # drained before the kill: try again
                        again, retries = retries > 0, retries - 1
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, signal.SIGKILL)
                        report.kills += 1
                elif proc.wait(60) == -signal.SIGKILL:
                    report.crash_points[what] = report.crash_points.get(what, 0) + 1
                proc.wait()
                if proc.stderr:
                    proc.stderr.close()
        capture.wait(120)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    final = subprocess.run(
        sync_command(spool_dir, target, None), env=_env(token_env), capture_output=True, timeout=300
    )
    if final.returncode != 0:
        raise RuntimeError(f"the last sync failed: {final.stderr.decode()[-2000:]}")
    lines = log.read_text().splitlines() if log.exists() else []
    expected |= {line[2:] for line in lines if line.startswith("K ")}
    report.check = check_target(target, spool_dir, expected)
    report.duration_s = time.monotonic() - start
    return report


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        capture_child(
            Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        )
