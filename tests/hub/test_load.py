"""Two hub processes on one PostgreSQL database: a small fleet with one hub killed -9 mid-run loses
and doubles nothing; the same samples and device names raced through both hubs never give a 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.testing.hub_fleet import HubFleet, run_load
from edgeloop.testing.hub_load import LoadOptions, make_samples
from edgeloop.testing.postgres import PostgresServer


@pytest.fixture(scope="module")
def two_hubs(tmp_path_factory: pytest.TempPathFactory, pg_server: PostgresServer) -> Iterator[HubFleet]:
    """Two hub processes on one fresh database and one blob folder, for the race tests."""
    root = tmp_path_factory.mktemp("two-hubs")
    pg_server.start()  # no-op while it runs
    with HubFleet(root, pg_server.create_database(), str(root / "blobs"), 2, cli_migrate=False) as fleet:
        yield fleet


@pytest.mark.timeout(120)
def test_fleet_fails_over_when_a_hub_is_killed_and_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    options = LoadOptions(
        devices=40,
        samples_per_device=3,
        kill_at=0.4,
        seed=3,
        heartbeat_s=2.0,
        interval_s=0.05,
        start_spread_s=0.3,
        max_connections=20,
        deadline_s=60,
    )
    result = run_load(tmp_path, pg_url, options, cli_migrate=False)
    s, v = result.stats, result.verification
    summary = result.summary()
    assert v.ok, summary
    assert (v.expected, v.rows, v.blobs, s.acked) == (120, 120, 120, 120), summary
    assert not s.rejected and not s.given_up, (s.rejected, s.given_up)
    # the kill happened mid-run, was noticed, and the survivor took the rest
    assert result.hubs_alive == [False, True]
    assert 0 < s.acked_at_kill < 120
    assert summary["requests_after_kill"] > 0 and s.failovers > 0, summary
    # a sample is answered "duplicate" only when an earlier try stored it but its answer was lost
    assert summary["duplicate_200"] <= s.retries, summary
    # every device is seen, also one whose heartbeat went to the killed hub (it retries on the other)
    assert v.devices_seen == 40 and s.heartbeats >= 40, summary


def test_same_samples_raced_through_two_hubs_store_once(two_hubs: HubFleet) -> None:
    """4 concurrent uploads of each sample (2 per hub, 2 devices): one 201, three 200, never a 5xx."""
    import httpx

    fleet = two_hubs
    tokens = asyncio.run(fleet.register(["cam-a", "cam-b"]))
    samples = make_samples(["cam-a"], 24, seed=11)["cam-a"]

    async def race() -> list[tuple[str, int]]:
        async with httpx.AsyncClient(timeout=60) as client:

            async def send(sample_index: int, hub: int, device: str) -> tuple[str, int]:
                sample = samples[sample_index]
                headers = {
                    "Authorization": f"Bearer {tokens[device]}",
                    "Idempotency-Key": sample.sha256,
                    "Content-Type": sample.content_type,
                }
                url = f"{fleet.urls[hub]}/api/v1/samples"
                response = await client.post(url, content=sample.body, headers=headers)
                return sample.sha256, response.status_code

            jobs = [
                send(i, hub, device)
                for i in range(len(samples))
                for hub in (0, 1)
                for device in ("cam-a", "cam-b")
            ]
            return await asyncio.gather(*jobs)

    answers = asyncio.run(race())
    status, body = fleet.hubs[1].json("GET", "/api/v1/samples?limit=1000")
    codes = Counter(code for _, code in answers)
    assert set(codes) <= {200, 201}, codes
    stored = Counter(sha for sha, code in answers if code == 201)
    assert stored == Counter({s.sha256: 1 for s in samples}), codes
    assert status == 200 and sorted(r["sha256"] for r in body["samples"]) == sorted(s.sha256 for s in samples)
    for sample in samples:  # the blob is whole whoever won
        data = (Path(fleet.blobs) / "samples" / sample.sha256).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sample.sha256


def test_same_device_name_added_on_two_hubs_at_once(two_hubs: HubFleet) -> None:
    """Racing registrations of one name: one 201, the others 409 naming the fix, never a 500."""
    import httpx

    fleet = two_hubs
    headers = {"Authorization": f"Bearer {fleet.admin_token}"}

    async def race(name: str) -> list[tuple[int, str]]:
        async with httpx.AsyncClient(timeout=60) as client:

            async def add(hub: int) -> tuple[int, str]:
                url = f"{fleet.urls[hub]}/api/v1/devices"
                response = await client.post(url, json={"name": name}, headers=headers)
                return response.status_code, response.text

            return await asyncio.gather(*(add(i % 2) for i in range(6)))

    for round_ in range(5):
        answers = asyncio.run(race(f"cam{round_}"))
        codes = Counter(code for code, _ in answers)
        assert codes == Counter({201: 1, 409: 5}), answers
        assert all("already exists" in json.loads(text)["error"] for code, text in answers if code == 409)
