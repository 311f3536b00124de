"""edgeloop sync against the real hub app over real HTTP (uvicorn in a subprocess, SQLite + folder)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeloop.improve.policy import Budget
from edgeloop.improve.spool import Spool
from edgeloop.testing.hub_server import HubServer, free_port
from edgeloop.testing.sync_faults import (
    HubTarget,
    check_target,
    fill_spool,
    sample_jpeg,
    sample_record,
    sync_kill_rounds,
)

pytest.importorskip("sqlalchemy", reason="the hub needs edgeloop[hub]")


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[HubServer]:
    with HubServer(tmp_path / "data") as server:
        yield server


def _sync(spool: Path, url: str, token: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("EDGELOOP_HUB_TOKEN", None)
    if token is not None:
        env["EDGELOOP_HUB_TOKEN"] = token
    args = [sys.executable, "-m", "edgeloop.cli", "sync", "--spool", str(spool), "--hub", url, *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("batch", ["1", "8"])
def test_every_sample_reaches_the_hub_once(hub: HubServer, tmp_path: Path, batch: str) -> None:
    token = hub.add_device("cam-1")
    shas = fill_spool(tmp_path / "spool", 30, seed=1)
    result = _sync(tmp_path / "spool", hub.url, token, "--once", "--batch", batch)
    assert result.returncode == 0, result.stderr
    assert "sent 30 (stored 30, already there 0), acked 30, rejected 0" in result.stderr
    assert token not in result.stderr + result.stdout
    target = HubTarget(hub.url, token, hub.admin_token)
    check = check_target(target, tmp_path / "spool", set(shas))
    assert (check.at_target, check.lost, check.duplicated, check.corrupt) == (30, 0, 0, 0)
    assert (check.spool_held, check.spool_orphans, check.spool_integrity) == (0, 0, "ok")
    status, row = hub.json("GET", f"/api/v1/samples/{shas[0]}")
    assert status == 200 and row["device"] == "cam-1" and row["sampler"] == "random"
    assert row["predictions"]["predictions"][0]["class"] == "car" and row["tags"] == ["t"]
    # The same images from another spool: the hub already holds them (Idempotency-Key).
    fill_spool(tmp_path / "again", 30, seed=1)
    again = _sync(tmp_path / "again", hub.url, token, "--once", "--batch", batch)
    assert "sent 30 (stored 0, already there 30)" in again.stderr
    assert len(hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]) == 30


def test_wrong_or_revoked_token_stops_with_exit_2_and_acks_nothing(hub: HubServer, tmp_path: Path) -> None:
    fill_spool(tmp_path / "spool", 3, seed=2)
    wrong = _sync(tmp_path / "spool", hub.url, "not-a-token", "--once")
    assert wrong.returncode == 2
    assert "refused the token (401): it is wrong or was revoked" in wrong.stderr
    assert "not-a-token" not in wrong.stderr
    token = hub.add_device("cam-2")
    assert hub.request("DELETE", "/api/v1/devices/cam-2")[0] == 204
    revoked = _sync(tmp_path / "spool", hub.url, token)  # no --once: a 401 still stops
    assert revoked.returncode == 2 and "(401)" in revoked.stderr
    admin = _sync(tmp_path / "spool", hub.url, hub.admin_token, "--once")
    assert admin.returncode == 2 and "(403): use a device token" in admin.stderr
    good = hub.add_device("cam-2b")
    wrong_url = _sync(tmp_path / "spool", hub.url + "/hub", good, "--once")
    assert wrong_url.returncode == 2 and "has no POST /api/v1/samples (404)" in wrong_url.stderr
    with Spool(tmp_path / "spool") as spool:
        assert spool.size[0] == 3 and spool.counters().get("acked", 0) == 0


def test_no_token_and_unreachable_hub(hub: HubServer, tmp_path: Path) -> None:
    fill_spool(tmp_path / "spool", 2, seed=3)
    missing = _sync(tmp_path / "spool", hub.url, None, "--once")
    assert missing.returncode == 1 and "EDGELOOP_HUB_TOKEN" in missing.stderr
    down = _sync(tmp_path / "spool", f"http://127.0.0.1:{free_port()}", "t0ken", "--once")
    assert down.returncode == 1
    assert "connection refused" in down.stderr and "gave up after 3 tries" in down.stderr
    assert "2 still held" in down.stderr
    with Spool(tmp_path / "spool") as spool:
        assert spool.size[0] == 2


@pytest.mark.parametrize("batch", ["1", "4"])
def test_a_sample_the_hub_refuses_is_acked_and_counted(hub: HubServer, tmp_path: Path, batch: str) -> None:
    token = hub.add_device("cam-3")
    good = fill_spool(tmp_path / "spool", 3, seed=4)
    rng = np.random.default_rng(4)
    with Spool(tmp_path / "spool") as spool:
        bad = spool.add(b"GIF89a not an image the hub takes", sample_record(rng, 5.0), Budget())
        assert not isinstance(bad, str)
    result = _sync(tmp_path / "spool", hub.url, token, "--once", "--batch", batch)
    assert result.returncode == 0, result.stderr
    assert "rejected 1 (415: 1)" in result.stderr and f"{bad.sha256[:12]} rejected by" in result.stderr
    with Spool(tmp_path / "spool") as spool:
        counters = spool.counters()
        assert counters["sync_rejected:415"] == 1 and counters["acked"] == 4 and spool.size[0] == 0
    listed = {s["sha256"] for s in hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]}
    assert listed == set(good)


def test_large_files_resume_where_the_hub_stopped(hub: HubServer, tmp_path: Path) -> None:
    """An upload a previous run left half-done (30,000 bytes at the hub) is finished, not restarted."""
    token = hub.add_device("cam-4")
    rng = np.random.default_rng(5)
    with Spool(tmp_path / "spool") as spool:
        stored = [
            spool.add(sample_jpeg(rng, (400, 300)), sample_record(rng, float(i)), Budget()) for i in range(2)
        ]
        first = spool.samples()[0]
    data = (tmp_path / "spool" / "images" / f"{first.sha256}.jpg").read_bytes()
    assert len(data) > 80_000
    start = {"sha256": first.sha256, "size": len(data), "meta": {"captured_at": 1.0}}
    status, _, body = hub.request(
        "POST", "/api/v1/uploads", json.dumps(start).encode(), {"Content-Type": "application/json"}, token
    )
    assert status == 201, body
    upload = json.loads(body)["id"]
    headers = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert hub.request("PATCH", f"/api/v1/uploads/{upload}", data[:30_000], headers, token)[0] == 204
    meter = _ByteMeter(hub.port)
    result = _sync(
        tmp_path / "spool", f"http://127.0.0.1:{meter.port}", token, "--once", "--resumable-above", "50k"
    )
    assert result.returncode == 0, result.stderr
    assert "sent 2 (stored 2" in result.stderr
    total = len(data)
    second = sum(n for _, n in meter.sent)
    other = next(s for s in stored if not isinstance(s, str) and s.sha256 != first.sha256)
    assert not isinstance(other, str)
    other_size = hub.json("GET", f"/api/v1/samples/{other.sha256}")[1]["bytes"]
    assert second < total - 30_000 + other_size + 8_000  # the first 30,000 bytes were not sent again
    for s in stored:
        assert not isinstance(s, str)
        status, _, image = hub.request("GET", f"/api/v1/samples/{s.sha256}/image")
        assert status == 200 and hashlib.sha256(image).hexdigest() == s.sha256


class _ByteMeter:
    """A loopback TCP relay in front of the hub that timestamps the bytes the client sends."""

    def __init__(self, port: int) -> None:
        self.target_port = port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent: list[tuple[float, int]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    self.sent.append((time.monotonic(), len(data)))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def rate_bps(self) -> float:
        """Bytes per second from the first byte to the last (the first chunk is free: a full bucket)."""
        (t0, first), t1 = self.sent[0], self.sent[-1][0]
        return (sum(n for _, n in self.sent) - first) / (t1 - t0)


def test_the_bandwidth_cap_is_held_on_the_wire(hub: HubServer, tmp_path: Path) -> None:
    token = hub.add_device("cam-5")
    rng = np.random.default_rng(6)
    with Spool(tmp_path / "spool") as spool:
        for i in range(36):
            spool.add(sample_jpeg(rng, (160, 120)), sample_record(rng, float(i)), Budget())
        held_bytes = spool.size[1]
    assert held_bytes > 500_000
    meter = _ByteMeter(hub.port)
    # One batch request: the bytes flow without waiting for the hub's answers between samples
    # (each answer's round trip is idle time the cap does not fill beyond a quarter second).
    url = f"http://127.0.0.1:{meter.port}"
    result = _sync(tmp_path / "spool", url, token, "--once", "--rate", "200k", "--batch", "64")
    assert result.returncode == 0, result.stderr
    rate = meter.rate_bps()
    duration = meter.sent[-1][0] - meter.sent[0][0]
    print(f"measured {rate:.0f} bytes/s over {duration:.1f} s for a 200,000 bytes/s cap")
    assert duration > 2.0
    assert 0.85 * 200_000 <= rate <= 1.15 * 200_000
    # Never above the cap for long: any 2 s window holds at most 2 s at the rate plus the burst.
    busiest = max(
        sum(n for t, n in meter.sent if t0 <= t < t0 + 2.0)
        for t0, _ in meter.sent
        if t0 + 2.0 <= meter.sent[-1][0]
    )
    assert busiest <= 1.15 * 2 * 200_000


def test_kill_9_of_sync_against_the_hub_loses_and_doubles_nothing(hub: HubServer, tmp_path: Path) -> None:
    target = HubTarget(hub.url, hub.add_device("cam-6"), hub.admin_token)
    report = sync_kill_rounds(tmp_path, kills=8, seed=2, initial=80, captured=40, rate="60k", hub=target)
    assert report.crash_points == {"sync_uploaded": 1, "acked": 1} and report.kills == 8
    check = report.check
    assert check.expected == 120
    assert (check.lost, check.duplicated, check.corrupt, check.unexpected) == (0, 0, 0, 0)
    assert (check.spool_held, check.spool_orphans, check.spool_integrity) == (0, 0, "ok")


def test_an_idle_connection_the_hub_closed_is_no_failure(hub: HubServer, tmp_path: Path) -> None:
    """After the hub's keep-alive timeout (uvicorn: 5 s) the next upload opens a new connection
    at once: no back-off, no retry counted."""
    from edgeloop.improve.acker import SpoolAcker
    from edgeloop.improve.sync import Syncer
    from edgeloop.improve.sync_targets import TargetOptions, open_target

    token = hub.add_device("cam-7")
    fill_spool(tmp_path / "spool", 2, seed=7)
    target = open_target("hub", TargetOptions(hub.url, token))
    with SpoolAcker(tmp_path / "spool") as acker:
        syncer = Syncer(acker, target)
        assert syncer.step() and syncer.stats.sent == 1
        time.sleep(6.5)
        assert syncer.step() and syncer.stats.sent == 2 and syncer.stats.retries == 0
    target.close()


def test_a_bad_network_loses_and_doubles_nothing(hub: HubServer, tmp_path: Path) -> None:
    """Through a proxy that drops, resets, stalls and cuts connections mid-body (either way) half of
    the time, sync (no --once: it keeps retrying) still delivers every sample exactly once."""
    from edgeloop.improve.inventory import SpoolView
    from edgeloop.testing.fault_proxy import FaultProxy

    token = hub.add_device("cam-8")
    shas = fill_spool(tmp_path / "spool", 40, seed=8)
    faults = {"drop": 0.1, "reset": 0.1, "stall": 0.1, "mid_body": 0.2}
    with FaultProxy(hub.port, seed=3, stall_s=3.0, mid_body_max_bytes=3000, **faults) as proxy:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "EDGELOOP_HUB_TOKEN": token}
        url = f"http://127.0.0.1:{proxy.port}"
        args = ["sync", "--spool", str(tmp_path / "spool"), "--hub", url, "--timeout", "1", "--rate", "20k"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeloop.cli", *args], env=env, stderr=subprocess.PIPE, text=True
        )
        cuts = 0
        try:
            deadline = time.monotonic() + 150
            with SpoolView(tmp_path / "spool") as view:
                while view.status().held and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.3)
                    proxy.cut_live()  # and every open connection is cut now and then: mid-request too
                    cuts += 1
                held = view.status().held
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=60)
        counts = proxy.counts
    print(f"proxy connections: {counts}, {cuts} cuts; {stderr.strip().splitlines()[-1]}")
    assert held == 0, stderr[-3000:]
    assert sum(counts[k] for k in faults) >= 5 and cuts >= 5  # the faults did happen
    check = check_target(HubTarget(hub.url, token, hub.admin_token), tmp_path / "spool", set(shas))
    assert (check.at_target, check.lost, check.duplicated, check.corrupt) == (40, 0, 0, 0)
    assert (check.spool_held, check.spool_integrity, check.acked_counter) == (0, "ok", 40)
