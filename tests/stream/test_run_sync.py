"""`edgeloop run --capture ... --hub URL`: a sync thread sends kept frames to the real hub during the run."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle
from edgeloop.improve import Spool
from edgeloop.testing.hub_server import HubServer
from tests.conftest import run_cli

pytest.importorskip("sqlalchemy", reason="the hub needs edgeloop[hub]")
KEEP_HALF = "samplers: [{type: random, min_score: 0.5, tags: [half]}]\nseed: 4\n"


def test_run_sends_kept_frames_to_the_hub_while_it_runs(
    yolo_bundle: Bundle, long_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 frames (5 a second of a 60 s clip): the run lasts seconds even on a fast machine,
    # so sync (which looks at an empty spool once a second) sends while it runs.
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(KEEP_HALF)
    with HubServer(tmp_path / "data") as hub:
        token = hub.add_device("line-3")
        monkeypatch.setenv("EDGELOOP_HUB_TOKEN", token)
        args = [
            "run",
            str(yolo_bundle.root),
            "--source",
            str(long_clip),
            "--max-fps",
            "5",
            "--capture",
            str(policy),
        ]
        result = run_cli(*args, "--spool", str(spool), "--hub", hub.url, "--summary-json")
        assert result.returncode == 0, result.stderr
        assert token not in result.stderr and f"syncing {spool} to {hub.url}" in result.stderr
        summary = json.loads(next(x for x in result.stderr.splitlines() if x.startswith("{")))
        kept = summary["capture"][str(spool)]["kept"]
        line = next(x for x in result.stderr.splitlines() if "sync to" in x)
        assert kept > 5 and "sent " in line and "rejected 0" in line
        at_hub = {s["sha256"] for s in hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]}
        assert len(at_hub) > 0, result.stderr  # sent during the run
        with Spool(spool) as reopened:
            held = {s.sha256 for s in reopened.samples()}
            acked = {s.sha256 for s in reopened.samples("acked")}
        assert acked == at_hub and len(held | acked) == kept and not held & acked
        # What the run had not sent yet goes with the next sync.
        rest = run_cli("sync", "--spool", str(spool), "--hub", hub.url, "--once")
        assert rest.returncode == 0, rest.stderr
        assert len(hub.json("GET", "/api/v1/samples?limit=1000")[1]["samples"]) == kept


def test_hub_flags_are_checked_before_the_model_loads(
    yolo_bundle: Bundle, clip: Path, tmp_path: Path
) -> None:
    base = ["run", str(yolo_bundle.root), "--source", str(clip)]
    no_spool = run_cli(*base, "--hub", "http://127.0.0.1:9")
    assert no_spool.returncode == 1 and "--hub sends captured frames: add --capture" in no_spool.stderr
    policy = tmp_path / "policy.yaml"
    policy.write_text(KEEP_HALF)
    capture = ["--capture", str(policy), "--spool", str(tmp_path / "spool")]
    no_token = run_cli(*base, *capture, "--hub", "http://127.0.0.1:9", "--hub-token", "")
    assert no_token.returncode == 1 and "EDGELOOP_HUB_TOKEN" in no_token.stderr
    rate = run_cli(*base, "--sync-rate", "5k")
    assert rate.returncode == 1 and "--sync-rate caps the background sync: add --hub URL" in rate.stderr
    mqtt = run_cli(*base, "--hub-mqtt", "mqtt://127.0.0.1:1883")
    assert mqtt.returncode == 1 and "--hub-mqtt tells when the hub changed something" in mqtt.stderr
    bad = run_cli(
        *base, *capture, "--hub", "http://127.0.0.1:9", "--hub-token", "t", "--hub-mqtt", "http://x"
    )
    assert bad.returncode == 1 and "--hub-mqtt http://x: use mqtt://host:port" in bad.stderr


def test_run_sends_heartbeats_the_hub_shows(
    yolo_bundle: Bundle, long_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, spool = tmp_path / "policy.yaml", tmp_path / "spool"
    policy.write_text(KEEP_HALF)
    with HubServer(tmp_path / "data") as hub:
        monkeypatch.setenv("EDGELOOP_HUB_TOKEN", hub.add_device("line-4", "hall-a"))
        args = ["run", str(yolo_bundle.root), "--source", str(long_clip), "--max-fps", "5"]
        args += ["--capture", str(policy), "--spool", str(spool), "--hub", hub.url, "--heartbeat-s", "0.5"]
        args += ["--sync-rate", "20k"]  # slow: samples stay in the backlog a while
        command = [sys.executable, "-m", "edgeloop.cli", *args]
        seen_fps: list[float] = []  # frames/s is "now": the beats after the clip ended say 0
        log = tmp_path / "run.log"
        with log.open("w") as err, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err) as run:
            while run.poll() is None:
                devices = hub.json("GET", "/api/v1/devices")[1]["devices"]
                seen_fps += [d["fps"] for d in devices if d["name"] == "line-4" and d["fps"] is not None]
                time.sleep(0.2)
        assert run.returncode == 0, log.read_text()
        device = next(d for d in hub.json("GET", "/api/v1/devices")[1]["devices"] if d["name"] == "line-4")
        manifest = yolo_bundle.manifest
        assert device["model_version"] == str(manifest.version) and device["last_seen"] is not None
        assert max(seen_fps, default=0) > 0 and device["free_disk_bytes"] > 0, seen_fps
        assert device["health"] in ("ok", "degraded")  # degraded: only for dropped frames (below)
        assert device["backlog"] >= 0
        with contextlib.closing(sqlite3.connect(tmp_path / "data" / "hub.db")) as db:
            (stored,) = db.execute("SELECT heartbeat FROM devices WHERE name = 'line-4'").fetchone()
        beat = json.loads(stored)  # the whole body, as the hub keeps it
        assert beat["model_name"] == manifest.name and beat["edgeloop_version"] and beat["uptime_s"] > 0
        # ok, or (a busy machine) capture dropped frames in the last interval
        assert (beat["health"], beat["reason"]) == ("ok", "") or beat["reason"].startswith("capture dropped")
        assert beat["capture_drops"] >= 0 and "sent" in beat["sync"]
        print(f"last heartbeat: fps {beat['fps']}, backlog {beat['backlog']} ({beat['backlog_bytes']} B)")
