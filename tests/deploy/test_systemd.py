"""`edgeloop deploy systemd`: units that systemd itself accepts, hardened, with an installer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.deploy.systemd import write_systemd
from edgeloop.deploy.targets import TARGETS, get_target
from edgeloop.errors import DeployError
from tests.conftest import run_cli
from tests.deploy.conftest import bundle_for, tool

HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
    "Restart=on-failure",
    "User=edgeloop",
]
SYSTEMD_HOW = "apt-get install systemd (scripts/system-deps.sh installs it)"


def verify_unit(unit: Path) -> None:
    """`systemd-analyze verify` the unit; its ExecStart must exist, so point it at a real edgeloop."""
    analyze = tool("systemd-analyze", SYSTEMD_HOW)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and unit.name not in result.stderr, result.stderr


def exposure(unit: Path) -> float:
    """systemd's own 0-10 exposure score for the unit (lower is better)."""
    analyze = tool("systemd-analyze", SYSTEMD_HOW)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


SYSTEMD_TARGETS = sorted(key for key, target in TARGETS.items() if target.docker_only is None)


@pytest.mark.parametrize("key", SYSTEMD_TARGETS)
@pytest.mark.parametrize("mode", ["serve", "run"])
def test_units_verify_and_are_hardened(key: str, mode: str, yolo_bundle: Bundle, tmp_path: Path) -> None:
    prefix = tmp_path / "opt"
    (prefix / "venv" / "bin").mkdir(parents=True)
    # The real console script of this environment stands in for the venv install.sh makes.
    (prefix / "venv" / "bin" / "edgeloop").symlink_to(Path(sys.executable).parent / "edgeloop")
    run_args = "--source rtsp://127.0.0.1/cam --sink 'jsonl:out 100%.jsonl'" if mode == "run" else None
    recipe = write_systemd(
        bundle_for(key, yolo_bundle.root, tmp_path),
        TARGETS[key],
        tmp_path / "r",
        mode,
        run_args,
        prefix=str(prefix),  # type: ignore[arg-type]
    )
    unit = recipe.unit.read_text()
    for line in HARDENING:
        assert line in unit.splitlines(), line
    target = TARGETS[key]
    devices = target.device == "cuda" or target.udev_rules is not None
    assert ("PrivateDevices=yes" in unit) == (mode == "serve" and not devices)
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    runtime = "" if target.backend == "onnxruntime" else f"--backend {target.backend} "
    runtime += f"--device {target.device}" if target.device else ""
    assert start.startswith(f"ExecStart={prefix}/venv/bin/edgeloop {mode} {prefix}/bundle {runtime}")
    if mode == "run":
        assert "'jsonl:out 100%%.jsonl'" in start  # % escaped for systemd, quoted for its splitter
    else:
        assert start.endswith("--host ${EDGELOOP_HOST} --port ${EDGELOOP_PORT}")
    verify_unit(recipe.unit)
    assert exposure(recipe.unit) <= 2.5
    subprocess.run(["bash", "-n", str(tmp_path / "r" / "install.sh")], check=True)
    assert load_bundle(tmp_path / "r" / "bundle").manifest.name == yolo_bundle.manifest.name


def test_env_file_keeps_loopback_default(yolo_bundle: Bundle, tmp_path: Path) -> None:
    write_systemd(yolo_bundle.root, get_target("rpi"), tmp_path / "r")
    env = (tmp_path / "r" / f"edgeloop-{yolo_bundle.manifest.name}.env").read_text()
    assert "EDGELOOP_HOST=127.0.0.1" in env.splitlines()
    assert "#EDGELOOP_TOKEN=" in env.splitlines()
    install = (tmp_path / "r" / "install.sh").read_text()
    assert "[ -e /etc/edgeloop/" in install, "a reinstall keeps the settings (and the token)"


def test_errors(yolo_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="non-root user"):
        write_systemd(yolo_bundle.root, get_target("rpi"), tmp_path / "a", user="root")
    with pytest.raises(DeployError, match="absolute path"):
        write_systemd(yolo_bundle.root, get_target("rpi"), tmp_path / "b", prefix="opt/x")
    result = run_cli(
        "deploy", "systemd", str(yolo_bundle.root), "--out", str(tmp_path / "c"), "--mode", "watch"
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --mode 'watch': choose serve or run"
