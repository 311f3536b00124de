"""``edgeloop demo`` shortened: the same loop as ``make demo`` at tiny sizes, each step checked.

The real command in a subprocess: first round (synth, train, export, eval, predict), then the field
round: ``edgeloop hub serve`` and the device's ``edgeloop run``/``sync`` as their own processes,
the scripted labeller through the review API, a dataset version, a retrain job (fine-tune, gate,
sign, publish), a rollout the device's agent (``edgeloop agent --once``) commits, and the device
running the new version (``run --models``). Checked from what they leave:
the hub's database, the signed bundle the device now points at, ``summary.json``, and no process
left running. The mAP rise is not asserted at these sizes (a few seconds of training);
``make demo`` shows it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sqlalchemy")
pytestmark = pytest.mark.timeout(400)

TINY = (
    ("--time", "6"),
    ("--train-images", "48"),
    ("--val-images", "8"),
    ("--imgsz", "96"),
    ("--field-frames", "40"),
    ("--label-budget", "24"),
    ("--finetune-time", "6"),
    ("--shifted-test-images", "12"),
    ("--threads", "1"),
)


def _processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (the demo's folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def test_demo_runs_the_field_loop(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = [a for pair in TINY for a in pair]
    result = subprocess.run(
        [sys.executable, "-m", "edgeloop", "demo", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=380,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    stderr = result.stderr
    assert "stands in for a person" in stderr  # the labeller says what it is
    assert "edgeloop hub serve --data" in stderr and "#token=" in stderr  # how to look at it again

    summary = json.loads((out / "summary.json").read_text())
    steps = [s["step"] for s in summary["steps"]]
    for step in (
        "first training",
        "hub started",
        "device: run, capture, sync",
        "labelling (scripted stand-in)",
    ):
        assert step in steps, steps
    assert summary["captured"] > 0 and summary["labelled"] == summary["captured"], summary
    assert summary["published"] == 2 and summary["device_runs"] == "2", summary
    served = next(s["result"] for s in summary["steps"] if s["step"] == "device serves the new version")
    assert "hub shows field-cam-1 on version 2" in served, served
    assert all(s["seconds"] >= 0 for s in summary["steps"])

    # The hub's own records: the device's samples labelled by the script, shapes@2 published and signed.
    with sqlite3.connect(next((out / "field" / "hub-data").glob("*.db"))) as db:
        by_status = dict(db.execute("SELECT status, count(*) FROM samples GROUP BY status").fetchall())
        reviewers = {
            r for (r,) in db.execute("SELECT DISTINCT labelled_by FROM samples WHERE labelled_by IS NOT NULL")
        }
        rollouts = db.execute("SELECT model, version, state FROM rollouts ORDER BY id").fetchall()
    assert by_status.get("labelled") == summary["labelled"], by_status
    # Both versions reached the device through a rollout the agent committed.
    assert rollouts == [("shapes", 1, "done"), ("shapes", 2, "done")], rollouts
    assert "agent committed" in summary["ota"], summary["ota"]
    assert len(reviewers) == 1 and "stand-in for a person" in reviewers.pop()

    # The device's current version is shapes@2, signed by the demo hub's key.
    from edgeloop.agent.layout import current_bundle
    from edgeloop.signing import Keyring, verify_bundle

    current = current_bundle(out / "field" / "device" / "models")
    assert current is not None
    manifest = verify_bundle(current, Keyring.load(out / "field" / "keys" / "keyring.json"))
    assert (manifest.name, manifest.version) == ("shapes", "2")
    assert manifest.provenance is not None and manifest.provenance.parent_version is not None

    assert _processes_naming(str(out)) == []  # the hub and the device exited with the demo
