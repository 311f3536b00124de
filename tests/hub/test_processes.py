"""Stateless hub processes: two servers on one SQLite file, and --workers 2, under concurrent uploads."""

from __future__ import annotations

import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgeloop.testing.hub_server import HubServer
from tests.hub.conftest import jpeg, meta


def test_two_processes_share_one_sqlite_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HubServer(data) as first, HubServer(data) as second:
        token = first.add_device("cam1")
        images = [jpeg(i, (32, 24)) for i in range(40)]

        def send(i: int) -> int:
            server = (first, second)[i % 2]
            return server.upload(token, images[i // 2], meta())[0]

        # every image goes to both processes at once: exactly one 201 each, the other 200
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, range(2 * len(images))))
        pairs = [sorted(codes[i : i + 2]) for i in range(0, len(codes), 2)]
        assert pairs == [[200, 201]] * len(images), codes
        listed = {s["sha256"] for s in second.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]}
        assert listed == {hashlib.sha256(image).hexdigest() for image in images}
        blobs = [p for p in (data / "blobs" / "samples").iterdir()]
        assert len(blobs) == len(images)
        assert first.leaked_tokens() == [] and second.leaked_tokens() == []


def test_workers_serve_from_several_processes(tmp_path: Path) -> None:
    with HubServer(tmp_path / "data", workers=2) as hub:
        token = hub.add_device("cam1")
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda i: hub.upload(token, jpeg(100 + i, (32, 24)), meta())[0], range(30)))
        assert codes == [201] * 30
        assert len(hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]) == 30
        pids = set(re.findall(r"Started server process \[(\d+)\]", hub.log()))
        assert len(pids) == 2, hub.log()


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    import sqlite3
    import threading

    hub = HubServer(tmp_path / "data").start()
    try:
        token = hub.add_device("cam1")
        images = [jpeg(500 + i, (48, 32)) for i in range(60)]
        acked: set[str] = set()

        def device() -> None:
            for image in images:
                try:
                    if hub.upload(token, image, meta())[0] in (200, 201):
                        acked.add(hashlib.sha256(image).hexdigest())
                except OSError:
                    pass  # the hub died mid-request: not acknowledged, sent again later

        sender = threading.Thread(target=device)
        sender.start()
        deadline = time.monotonic() + 60
        while len(acked) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        hub.kill()
        sender.join()
        hub.start()
        for image in images:  # the device sends everything it holds no ack for (and repeats are harmless)
            assert hub.upload(token, image, meta())[0] in (200, 201)
        samples = hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]
        shas = [s["sha256"] for s in samples]
        assert sorted(shas) == sorted({hashlib.sha256(i).hexdigest() for i in images})
        assert acked <= set(shas)
        for image in images[:5]:
            sha = hashlib.sha256(image).hexdigest()
            assert hub.request("GET", f"/api/v1/samples/{sha}/image")[2] == image
    finally:
        hub.stop()
    with sqlite3.connect(tmp_path / "data" / "hub.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
