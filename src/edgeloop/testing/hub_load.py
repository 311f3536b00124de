"""Simulated devices against several hub processes: heartbeats, idempotent uploads, failover.

Each device sends its heartbeat every few seconds (a failed one is retried soon, on the other hub)
and uploads its own unique samples with ``Idempotency-Key``; half the devices start on each hub.
A connection error, a timeout or a 5xx makes the device back off (full jitter) and retry on the
*other* hub, as a device behind a load balancer would. Every acknowledgement (201 stored / 200
duplicate) is recorded, so the caller can check afterwards that each sample was acknowledged and
is held exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeloop.imaging import encode_jpeg
from edgeloop.testing.hub_server import multipart


@dataclass(frozen=True)
class LoadOptions:
    """The shape of a load run."""

    devices: int = 1000
    samples_per_device: int = 5
    kill_at: float = 0.4  # kill -9 one hub after this fraction of uploads is acknowledged (0: never)
    seed: int = 0
    heartbeat_s: float = 10.0  # each device's heartbeat period (with +-25 % jitter)
    interval_s: float = 1.0  # think time between a device's uploads (with +-50 % jitter)
    start_spread_s: float = 2.0  # devices start spread over this many seconds
    max_connections: int = 32  # requests in flight, all hubs together (one pool per hub)
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 2.0
    timeout_s: float = 30.0  # one request
    deadline_s: float = 900.0  # the whole run: a device gives up on a sample after this


@dataclass(frozen=True)
class Sample:
    sha256: str
    device: str
    body: bytes  # the multipart body (meta + image)
    content_type: str
    image: bytes


def make_samples(devices: list[str], per_device: int, seed: int) -> dict[str, list[Sample]]:
    """``per_device`` unique small JPEGs (64x48 noise) with their metadata, for each device."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Sample]] = {}
    for name in devices:
        samples = []
        for n in range(per_device):
            image = encode_jpeg(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
            meta = _meta(float(rng.uniform(0, 1)), n)
            body, content_type = multipart(
                [("meta", json.dumps(meta).encode(), None), ("image", image, "image.jpg")]
            )
            samples.append(Sample(hashlib.sha256(image).hexdigest(), name, body, content_type, image))
        out[name] = samples
    return out


def _meta(score: float, n: int) -> dict[str, Any]:
    box = {"x": 10, "y": 10, "width": 5, "height": 5, "confidence": score, "class": "person", "class_id": 0}
    return {
        "captured_at": 1_700_000_000.0 + n,
        "width": 64,
        "height": 48,
        "model_name": "det",
        "model_version": "1",
        "predictions": {"image": {"width": 64, "height": 48}, "predictions": [box]},
        "sampler": "uncertainty",
        "score": score,
        "reason": "load run",
        "tags": ["load"],
    }


@dataclass
class LoadStats:
    """What the simulated fleet saw."""

    acks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # sha -> [(status, hub)]
    rejected: dict[str, str] = field(default_factory=dict)  # sha -> "<code> <error>" (4xx)
    given_up: list[str] = field(default_factory=list)
    # (started, seconds) of each successful upload request; started is monotonic
    latencies: list[tuple[float, float]] = field(default_factory=list)
    # first try -> ack: failed tries and backoff included, waits for the simulator's pool not
    end_to_end: list[tuple[float, float]] = field(default_factory=list)
    heartbeats: int = 0
    heartbeat_failures: int = 0
    retries: int = 0
    failovers: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    uploads_done: float = 0.0  # monotonic time of the last acknowledgement
    finished: float = 0.0
    kill_time: float | None = None
    killed_hub: int | None = None
    acked_at_kill: int = 0

    @property
    def acked(self) -> int:
        return len(self.acks)


class _Device:
    def __init__(self, name: str, token: str, hub: int, rng: random.Random) -> None:
        self.name, self.hub, self.rng = name, hub, rng
        self.headers = {"Authorization": f"Bearer {token}"}
        self.beat_headers = {**self.headers, "Content-Type": "application/json"}


_BEAT = json.dumps(
    {"model_version": "1", "health": "ok", "fps": 10.0, "backlog": 0, "free_disk_bytes": 10**9}
).encode()


Killer = Callable[[int], Coroutine[Any, Any, None]]


class FleetSimulator:
    """Runs the devices; ``kill(hub_index)`` is awaited once when ``kill_at`` of the uploads is acked."""

    def __init__(
        self,
        urls: list[str],
        tokens: dict[str, str],
        samples: dict[str, list[Sample]],
        options: LoadOptions,
        kill: Killer | None = None,
    ) -> None:
        self.urls, self.samples, self.options, self.kill = urls, samples, options, kill
        seed = random.Random(options.seed)
        self.devices = [
            _Device(name, tokens[name], i % len(urls), random.Random(seed.random()))
            for i, name in enumerate(samples)
        ]
        self.total = sum(len(s) for s in samples.values())
        self.stats = LoadStats()
        self._gate = asyncio.Semaphore(options.max_connections)
        self._uploads_left = len(self.devices)
        self._done = asyncio.Event()
        self._kill_task: asyncio.Task[None] | None = None
        self._clients: list[Any] = []

    async def run(self) -> LoadStats:
        import httpx

        o = self.options
        limits = httpx.Limits(
            max_connections=o.max_connections, max_keepalive_connections=o.max_connections, keepalive_expiry=4
        )
        timeout = httpx.Timeout(o.timeout_s, pool=None)
        self.stats.started = time.monotonic()
        self._deadline = self.stats.started + o.deadline_s
        async with contextlib.AsyncExitStack() as stack:
            # one client per hub: httpx's pool scans its connections per request, keep each small
            self._clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout)
                )
                for url in self.urls
            ]
            tasks = [asyncio.create_task(self._uploads(d)) for d in self.devices]
            tasks += [asyncio.create_task(self._heartbeats(d)) for d in self.devices]
            await asyncio.gather(*tasks)
            if self._kill_task is not None:
                await self._kill_task
        self.stats.finished = time.monotonic()
        return self.stats

    def _other(self, device: _Device, hub: int) -> None:
        """Fail over: the device's next request goes to the next hub."""
        if device.hub == hub:
            device.hub = (hub + 1) % len(self.urls)
            self.stats.failovers += 1

    async def _heartbeats(self, device: _Device) -> None:
        """A heartbeat every ``heartbeat_s``; a failed one is retried on the other hub after a backoff,
        as an upload is, and the device stops only once its newest heartbeat got through (or at the
        deadline), so a device whose beats all went to the killed hub is still seen by the survivor."""
        o = self.options
        await asyncio.sleep(device.rng.uniform(0, o.start_spread_s))
        failed = 0  # failed heartbeats in a row
        while True:
            hub = device.hub
            try:
                async with self._gate:
                    response = await self._clients[hub].post(
                        "/api/v1/heartbeat", content=_BEAT, headers=device.beat_headers
                    )
                ok = response.status_code == 204
                if not ok:
                    self.stats.errors[f"heartbeat http {response.status_code}"] += 1
            except Exception as exc:  # httpx.TransportError and its kin: the hub is gone or stalled
                ok = False
                self.stats.errors[f"heartbeat {type(exc).__name__}"] += 1
            if not ok:
                self.stats.heartbeat_failures += 1
                self._other(device, hub)
                failed += 1
                if time.monotonic() > self._deadline:
                    return
                await asyncio.sleep(device.rng.uniform(0, min(o.backoff_cap_s, o.backoff_base_s * 2**failed)))
                continue
            self.stats.heartbeats += 1
            failed = 0
            period = o.heartbeat_s * device.rng.uniform(0.75, 1.25)
            try:
                await asyncio.wait_for(self._done.wait(), period)
                return
            except asyncio.TimeoutError:
                continue

    async def _uploads(self, device: _Device) -> None:
        o = self.options
        await asyncio.sleep(device.rng.uniform(0, o.start_spread_s))
        try:
            for sample in self.samples[device.name]:
                await self._upload(device, sample)
                await asyncio.sleep(o.interval_s * device.rng.uniform(0.5, 1.5))
        finally:
            self._uploads_left -= 1
            if self._uploads_left == 0:
                self.stats.uploads_done = time.monotonic()
                self._done.set()

    async def _upload(self, device: _Device, sample: Sample) -> None:
        o, stats = self.options, self.stats
        headers = {**device.headers, "Idempotency-Key": sample.sha256, "Content-Type": sample.content_type}
        first, attempt, queued = time.monotonic(), 0, 0.0
        while True:
            hub = device.hub
            waiting = time.monotonic()
            async with self._gate:
                started = time.monotonic()
                queued += started - waiting  # the simulator's pool, not the device's time
                try:
                    response = await self._clients[hub].post(
                        "/api/v1/samples", content=sample.body, headers=headers
                    )
                    code, error = response.status_code, response.text
                except Exception as exc:  # connection refused / reset / timeout: retry elsewhere
                    code, error = 0, type(exc).__name__
                ended = time.monotonic()
            if code in (200, 201):
                stats.acks.setdefault(sample.sha256, []).append((code, hub))
                stats.latencies.append((started, ended - started))
                stats.end_to_end.append((first, ended - first - queued))
                self._maybe_kill()
                return
            if 400 <= code < 500 and code not in (408, 429):
                stats.rejected[sample.sha256] = f"{code} {error[:200]}"
                return
            stats.retries += 1
            stats.errors[f"upload {'http ' + str(code) if code else error}"] += 1
            self._other(device, hub)
            attempt += 1
            if time.monotonic() > self._deadline:
                stats.given_up.append(sample.sha256)
                return
            await asyncio.sleep(device.rng.uniform(0, min(o.backoff_cap_s, o.backoff_base_s * 2**attempt)))

    def _maybe_kill(self) -> None:
        o, stats = self.options, self.stats
        if self.kill is None or o.kill_at <= 0 or stats.kill_time is not None:
            return
        if stats.acked >= o.kill_at * self.total:
            stats.kill_time, stats.killed_hub, stats.acked_at_kill = time.monotonic(), 0, stats.acked
            self._kill_task = asyncio.create_task(self.kill(0))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` (nearest rank), 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
