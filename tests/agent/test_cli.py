"""`edgeloop agent --watch` and `edgeloop agent status` as a user runs them, with EDGELOOP_CRASH_AT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from edgeloop.agent.models import ModelsDir
from edgeloop.cli.main import app
from edgeloop.testing import bad_bundles
from edgeloop.testing.bad_bundles import Kit

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _agent(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("EDGELOOP_CRASH_AT", None)
    if crash_at:
        env["EDGELOOP_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "edgeloop", "agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_watch_once_crash_restart_and_status(kit: Kit, tmp_path: Path) -> None:
    models, watch = tmp_path / "models", tmp_path / "watch"
    watch.mkdir()
    common = ["--models", str(models), "--keys", str(kit.keyring_path), "--once", "--window-s", "0"]
    bad_bundles.signed_tar(kit, watch / "v1.tar", 1)
    first = _agent("--watch", str(watch), *common, "--poll-s", "0.1")
    assert first.returncode == 0, first.stderr
    assert "committed" in first.stderr
    old = ModelsDir(models).current_key()

    bad_bundles.signed_tar(kit, watch / "v2.tar", 2)
    crashed = _agent("--watch", str(watch), *common, "--poll-s", "0.1", crash_at="agent:window")
    assert crashed.returncode == -signal.SIGKILL
    folder = ModelsDir(models)
    assert folder.read_state()["state"] == "window" and folder.previous_key() == old

    resumed = _agent("--watch", str(watch), *common, "--poll-s", "0.1")
    assert resumed.returncode == 0, resumed.stderr
    assert "recovered: committed" in resumed.stderr
    assert folder.current_key() is not None and folder.current_key() != old

    shown = CliRunner().invoke(app, ["agent", "status", "--models", str(models)])
    assert shown.exit_code == 0, shown.output
    assert "state     committed" in shown.output and f"previous  {old}" in shown.output
    assert "history (newest last):" in shown.output

    bad_bundles.unsigned_tar(kit, watch / "v3.tar", 3)
    refused = _agent("--watch", str(watch), *common, "--poll-s", "0.1")
    assert refused.returncode == 2 and "rejected: verification failed (Unsigned)" in refused.stderr


def test_usage_errors_name_the_fix(kit: Kit, tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["agent", "--models", str(tmp_path / "m"), "--keys", str(kit.keyring_path)])
    assert both.exit_code == 1 and "--hub URL --token T" in both.output and "--watch DIR" in both.output
    missing = runner.invoke(app, ["agent", "--watch", str(tmp_path)])
    assert missing.exit_code == 1 and "--models DIR and --keys" in missing.output
    nothing = runner.invoke(app, ["agent", "status", "--models", str(tmp_path / "none")])
    assert nothing.exit_code == 1 and "no such models folder" in nothing.output
