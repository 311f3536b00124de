"""Several real hub processes on one database and one blob store, the load run over them, and the
exactly-once check afterwards (rows and blobs compared with what the devices meant to send)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeloop.testing.hub_load import FleetSimulator, LoadOptions, LoadStats, Sample, make_samples, percentile
from edgeloop.testing.hub_server import HubServer


class HubFleet:
    """``count`` ``edgeloop hub serve`` processes sharing ``db_url`` and the blob folder ``blobs``."""

    def __init__(
        self, workdir: Path, db_url: str, blobs: str, count: int = 2, cli_migrate: bool = True
    ) -> None:
        self.workdir, self.db_url, self.blobs = Path(workdir), db_url, blobs
        self.cli_migrate = cli_migrate
        self.admin_token = secrets.token_urlsafe(32)
        self.hubs = [
            HubServer(self.workdir / f"hub{i}", db_url=db_url, blobs_url=blobs) for i in range(count)
        ]

    @property
    def urls(self) -> list[str]:
        return [hub.url for hub in self.hubs]

    def migrate(self) -> None:
        """``edgeloop hub migrate`` once, before any hub starts (in this process without ``cli_migrate``)."""
        if not self.cli_migrate:
            from edgeloop.hub.config import HubConfig
            from edgeloop.hub.setup import migrate

            migrate(HubConfig(data_dir=self.workdir / "admin", db_url=self.db_url))
            return
        args = [sys.executable, "-m", "edgeloop", "hub", "migrate", "--data", str(self.workdir / "admin")]
        done = subprocess.run([*args, "--db", self.db_url], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"edgeloop hub migrate failed:\n{done.stderr}")

    def start(self) -> HubFleet:
        """Migrate, then start every hub with the same admin token."""
        self.migrate()
        for hub in self.hubs:
            hub.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(hub.data_dir / "admin.token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(self.admin_token + "\n")
        with ThreadPoolExecutor(len(self.hubs)) as pool:  # start together: each takes seconds to import
            futures = [pool.submit(hub.start) for hub in self.hubs]
        try:
            for future in futures:
                future.result()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for hub in self.hubs:
            hub.stop()

    def __enter__(self) -> HubFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def register(self, names: list[str], concurrency: int = 16) -> dict[str, str]:
        """Add each device through the admin API (spread over the hubs); name -> token."""
        import httpx

        tokens: dict[str, str] = {}
        gate = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {self.admin_token}"}

        async def add(client: httpx.AsyncClient, i: int, name: str) -> None:
            url = self.urls[i % len(self.urls)]
            async with gate:
                response = await client.post(f"{url}/api/v1/devices", json={"name": name}, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"adding {name}: {response.status_code} {response.text}")
            tokens[name] = response.json()["token"]

        async with httpx.AsyncClient(timeout=60) as client:
            await asyncio.gather(*(add(client, i, n) for i, n in enumerate(names)))
        return tokens


@dataclass
class Verification:
    """The hub's state compared with what the devices meant to send."""

    expected: int
    rows: int
    blobs: int
    lost: list[str] = field(default_factory=list)  # meant to be sent, not acked or not held
    duplicated: list[str] = field(default_factory=list)  # stored (201) twice, or a row nobody sent
    wrong_device: list[str] = field(default_factory=list)
    bad_blobs: list[str] = field(default_factory=list)  # missing, or bytes that do not hash to the key
    temp_files: int = 0  # leftovers of a blob write cut by kill -9 (harmless; never a sample)
    devices_seen: int = 0  # devices with a stored heartbeat

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong_device or self.bad_blobs)


def verify(db_url: str, blobs_url: str, samples: dict[str, list[Sample]], stats: LoadStats) -> Verification:
    """Count and sha256-set compare: every sample acked once, held once, by its device, blob intact.

    Blobs are read back through the hub's own store (folder or S3); a folder is also listed, so a
    file nobody meant to send, or a temporary file left by kill -9, is seen too.
    """
    import sqlalchemy as sa

    from edgeloop.errors import NotFound
    from edgeloop.hub import schema
    from edgeloop.hub.blobs import blobs_kind, open_blobs
    from edgeloop.hub.db import create_engine

    expected = {s.sha256: s for group in samples.values() for s in group}
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = {
                r.sha256: r.device
                for r in conn.execute(sa.select(schema.samples.c.sha256, schema.samples.c.device))
            }
            seen = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.devices)
                .where(schema.devices.c.last_seen.is_not(None))
            ).scalar_one()
    finally:
        engine.dispose()
    store = open_blobs(blobs_url)
    intact: set[str] = set()
    try:
        for sha in expected:
            try:
                if hashlib.sha256(store.get(f"samples/{sha}")).hexdigest() == sha:
                    intact.add(sha)
            except NotFound:
                pass
    finally:
        store.close()
    count = len(intact)
    result = Verification(len(expected), len(rows), count, devices_seen=int(seen))
    if blobs_kind(blobs_url) == "folder":
        root = Path(blobs_url.removeprefix("file://"))
        folder = root / "samples"
        files = {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else set()
        result.blobs = len(files)
        result.duplicated += sorted(files - set(expected))  # a blob nobody sent
        result.temp_files = sum(1 for _ in root.rglob(".tmp-*"))
    for sha, sample in expected.items():
        acks = stats.acks.get(sha, [])
        if not acks or sha not in rows:
            result.lost.append(sha)
            continue
        if sum(1 for code, _ in acks if code == 201) > 1 or len(acks) > 1:
            result.duplicated.append(sha)
        if rows[sha] != sample.device:
            result.wrong_device.append(sha)
        if sha not in intact:
            result.bad_blobs.append(sha)
    result.duplicated += sorted(set(rows) - set(expected))
    return result


@dataclass
class LoadResult:
    options: LoadOptions
    stats: LoadStats
    verification: Verification
    start_s: float  # migrate + hub processes up
    register_s: float
    hubs_alive: list[bool]
    context: dict[str, Any] = field(default_factory=dict)  # CPU used, load average, CPU speed

    def summary(self) -> dict[str, Any]:
        """The numbers a report prints (latencies in ms)."""
        s, v = self.stats, self.verification
        upload_s = max(s.uploads_done - s.started, 1e-9)
        run_s = max(s.finished - s.started, 1e-9)
        kill = s.kill_time if s.kill_time is not None else float("inf")
        before = [d for t, d in s.latencies if t < kill]
        after = [d for t, d in s.latencies if t >= kill]
        e2e_after = [d for t, d in s.end_to_end if t + d >= kill]

        def ms(values: list[float], q: float) -> float:
            return round(percentile(values, q) * 1000, 1)

        requests = len(s.latencies) + s.retries + s.heartbeats + s.heartbeat_failures
        stored = sum(1 for acks in s.acks.values() for code, _ in acks if code == 201)
        return {
            "devices": self.options.devices,
            "samples": v.expected,
            "acked": s.acked,
            "stored_201": stored,
            "duplicate_200": s.acked - stored,
            "upload_seconds": round(upload_s, 2),
            "uploads_per_s": round(s.acked / upload_s, 1),
            "heartbeats": s.heartbeats,
            "heartbeats_per_s": round(s.heartbeats / run_s, 1),
            "heartbeat_failures": s.heartbeat_failures,
            "p50_ms_before_kill": ms(before, 50),
            "p99_ms_before_kill": ms(before, 99),
            "p50_ms_after_kill": ms(after, 50),
            "p99_ms_after_kill": ms(after, 99),
            "p99_ms_end_to_end_after_kill": ms(e2e_after, 99),
            "requests_before_kill": len(before),
            "requests_after_kill": len(after),
            "killed_at_acked": s.acked_at_kill,
            "retries": s.retries,
            "failovers": s.failovers,
            "errors": dict(s.errors.most_common()),
            "rejected": len(s.rejected),
            "lost": len(v.lost),
            "duplicated": len(v.duplicated),
            "wrong_device": len(v.wrong_device),
            "bad_blobs": len(v.bad_blobs),
            "rows": v.rows,
            "blob_files": v.blobs,
            "temp_files": v.temp_files,
            "devices_with_heartbeat": v.devices_seen,
            "hubs_alive": self.hubs_alive,
            "client_cpu_ms_per_request": _per(self.context.get("client_cpu_s", 0.0), requests),
            "hub_cpu_ms_per_request": _per(self.context.get("hub_cpu_s", 0.0), requests),
            "python_mloops_per_s": self.context.get("python_mloops_per_s"),
            "loadavg_before_after": [
                round(self.context.get("loadavg_before", 0.0), 1),
                round(self.context.get("loadavg_after", 0.0), 1),
            ],
            "start_seconds": round(self.start_s, 2),
            "register_seconds": round(self.register_s, 2),
        }


def run_load(
    workdir: Path,
    db_url: str,
    options: LoadOptions,
    hubs: int = 2,
    cli_migrate: bool = True,
    blobs_url: str | None = None,
) -> LoadResult:
    """Start ``hubs`` hub processes on ``db_url`` sharing a blob store (default: a folder in
    ``workdir``; ``s3://...`` with the S3 environment set), run the fleet, verify."""
    blobs = blobs_url or str(Path(workdir) / "blobs")
    names = [f"dev{i:05d}" for i in range(options.devices)]
    samples = make_samples(names, options.samples_per_device, options.seed)
    began = time.monotonic()
    with HubFleet(Path(workdir), db_url, blobs, hubs, cli_migrate) as fleet:
        start_s, began = time.monotonic() - began, time.monotonic()
        tokens = asyncio.run(fleet.register(names))
        register_s = time.monotonic() - began

        hub_cpu = [cpu_seconds(_pid(hub)) for hub in fleet.hubs]

        async def kill(index: int) -> None:
            used = cpu_seconds(_pid(fleet.hubs[index]))
            await asyncio.to_thread(fleet.hubs[index].kill)
            hub_cpu[index] = used - hub_cpu[index]

        simulator = FleetSimulator(fleet.urls, tokens, samples, options, kill)
        context: dict[str, Any] = {"loadavg_before": os.getloadavg()[0], "python_mloops_per_s": _calibrate()}
        client_cpu = time.process_time()
        stats = asyncio.run(simulator.run())
        context["client_cpu_s"] = time.process_time() - client_cpu
        alive = [hub.alive() for hub in fleet.hubs]
        for i, hub in enumerate(fleet.hubs):
            if hub.alive():
                hub_cpu[i] = cpu_seconds(_pid(hub)) - hub_cpu[i]
        context["hub_cpu_s"] = sum(hub_cpu)
        context["loadavg_after"] = os.getloadavg()[0]
    verification = verify(db_url, blobs, samples, stats)
    return LoadResult(options, stats, verification, start_s, register_s, alive, context)


def _pid(hub: HubServer) -> int:
    return hub.proc.pid if hub.proc is not None else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), 0.0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _calibrate() -> float:
    """Millions of trivial Python loop steps per CPU second right now (how contended the CPU is)."""
    began, total = time.process_time(), 0
    for i in range(2_000_000):
        total += i
    return round(2.0 / max(time.process_time() - began, 1e-9), 1)


def _per(cpu_s: float, requests: int) -> float:
    return round(cpu_s * 1000 / max(requests, 1), 2)
