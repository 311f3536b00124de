"""``edgeloop deploy systemd``: a hardened service unit plus an installer, for a device without Docker.

```
OUT/
  edgeloop-NAME.service   the unit (dedicated user, read-only system, no privileges)
  edgeloop-NAME.env       settings: host, port, token (installed once to /etc/edgeloop/)
  install.sh              venv from the pinned wheels, bundle copy, user, unit, enable
  requirements.txt        the same pinned file the target's Dockerfile uses
  wheels/ bundle/ README.md
```
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from edgeloop.deploy.base import Target
from edgeloop.deploy.choose import Choice
from edgeloop.deploy.context import PIP_FLAGS, PORT, Mode, command_args, stage
from edgeloop.deploy.readme import systemd_readme
from edgeloop.errors import DeployError

_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class SystemdRecipe:
    """What ``write_systemd`` wrote."""

    out: Path
    unit: Path
    files: list[Path]
    choice: Choice  # the runtime it runs and why


def _systemd_quote(args: list[str]) -> str:
    # systemd splits ExecStart= like a shell with quotes, and expands % specifiers and $VARS.
    return " ".join(shlex.quote(a).replace("%", "%%") for a in args)


def render_unit(
    target: Target, name: str, version: str, prefix: str, user: str, mode: Mode, args: list[str]
) -> str:
    """The unit file text (``args``: what follows ``edgeloop``; serve gets host and port from env)."""
    exec_start = f"{prefix}/venv/bin/edgeloop {_systemd_quote(args)}"
    needs_devices = mode == "run" or target.device == "cuda" or target.udev_rules is not None
    lines = [
        "[Unit]",
        f"Description=edgeloop {mode}: bundle {name} v{version} ({target.key})",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"Group={user}",
        f"Environment=EDGELOOP_HOST=127.0.0.1 EDGELOOP_PORT={PORT} PYTHONDONTWRITEBYTECODE=1 HOME=/tmp",
        f"EnvironmentFile=-/etc/edgeloop/{name}.env",
    ]
    if mode == "serve":
        exec_start += " --host ${EDGELOOP_HOST} --port ${EDGELOOP_PORT}"
    lines += [
        f"ExecStart={exec_start}",
        f"StateDirectory=edgeloop/{name}",
        f"WorkingDirectory=/var/lib/edgeloop/{name}",
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=20",
        "",
        "# Hardening: nothing to escalate, nothing to write but the state directory.",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
        # Not MemoryDenyWriteExecute: libffi closures (cffi, ctypes callbacks) need W+X pages.
    ]
    if needs_devices:
        # Cameras (/dev/video*) and the Jetson GPU (/dev/nvhost-*, /dev/nvmap) belong to group video.
        lines += ["PrivateDevices=no", "SupplementaryGroups=video"]
    else:
        lines += ["PrivateDevices=yes"]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def render_env(name: str) -> str:
    """The settings file installed to /etc/edgeloop/NAME.env (kept on reinstall)."""
    return f"""# Settings for edgeloop-{name}.service (edgeloop serve reads EDGELOOP_TOKEN itself).
EDGELOOP_HOST=127.0.0.1
EDGELOOP_PORT={PORT}
# To listen beyond loopback set EDGELOOP_HOST=0.0.0.0 AND a token; edgeloop refuses otherwise.
#EDGELOOP_TOKEN=
"""


def render_install(target: Target, name: str, prefix: str, user: str, wheel_name: str) -> str:
    """install.sh: venv, pinned wheels, bundle, then (as root) user, settings, unit."""
    python = "python3" if target.python == "python" else target.python
    runtime = ""
    if target.runtime_index is not None:
        index = f"--index-url {target.runtime_index}"
        runtime = f'"$PREFIX/venv/bin/pip" install {PIP_FLAGS} {index} {target.runtime}\n'
    unit = f"edgeloop-{name}.service"
    return f"""#!/usr/bin/env bash
# Install bundle {name} as {unit} (target {target.key}). Run as root: sudo ./install.sh
# ./install.sh --no-system makes only the venv and the bundle copy (no user, no unit), e.g. to test.
# The package registry is needed here, never when the service runs.
set -euo pipefail
cd "$(dirname "$0")"
PREFIX="${{PREFIX:-{prefix}}}"
PYTHON="${{PYTHON:-{python}}}"
SYSTEM=1
if [ "${{1:-}}" = "--no-system" ]; then SYSTEM=0; fi
if [ "$SYSTEM" = 1 ]; then
  [ "$(id -u)" = 0 ] || {{ echo "error: run as root (sudo ./install.sh), or pass --no-system" >&2; exit 1; }}
  [ "$PREFIX" = "{prefix}" ] || {{ echo "error: the unit runs {prefix}; PREFIX must match" >&2; exit 1; }}
  systemctl stop {unit} 2>/dev/null || true
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \\
  || {{ echo "error: $PYTHON is older than 3.10: set PYTHON (pins: {target.python_version})" >&2; exit 1; }}
rm -rf "$PREFIX/venv" "$PREFIX/bundle"
mkdir -p "$PREFIX"
"$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install {PIP_FLAGS} -r requirements.txt
{runtime}"$PREFIX/venv/bin/pip" install {PIP_FLAGS} wheels/{wheel_name}
cp -R bundle "$PREFIX/bundle"
chmod -R a+rX,go-w "$PREFIX"
"$PREFIX/venv/bin/edgeloop" bundle verify "$PREFIX/bundle"
[ "$SYSTEM" = 1 ] || {{ echo "installed into $PREFIX (no service: --no-system)" >&2; exit 0; }}

id -u {user} >/dev/null 2>&1 \\
  || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin {user}
install -d -m 0750 -o root -g {user} /etc/edgeloop
[ -e /etc/edgeloop/{name}.env ] \\
  || install -m 0640 -o root -g {user} edgeloop-{name}.env /etc/edgeloop/{name}.env
install -m 0644 {unit} /etc/systemd/system/{unit}
systemctl daemon-reload
systemctl enable --now {unit}
echo "started {unit}: systemctl status {unit}; journalctl -u {unit} -f" >&2
"""


def write_systemd(
    bundle: Path,
    target: Target,
    out: Path,
    mode: Mode = "serve",
    run_args: str | None = None,
    user: str = "edgeloop",
    prefix: str | None = None,
    board: str | None = None,
) -> SystemdRecipe:
    """Verify ``bundle`` and write a systemd unit, settings and installer for ``target`` into ``out``.

    Raises:
        BundleError: the bundle fails verification.
        DeployError: ``out`` is in use, bad run arguments, user name or prefix, a Docker-only
            target, a bundle without the model the target needs, or a ``board`` that does not fit.
    """
    if not _USER.match(user) or user == "root":
        raise DeployError(f"--user '{user}': give a plain, non-root user name such as 'edgeloop'")
    if prefix is not None and not prefix.startswith("/"):
        raise DeployError(f"--prefix '{prefix}' must be an absolute path, e.g. /opt/edgeloop/NAME")
    if target.docker_only is not None:
        raise DeployError(
            f"target {target.key} is for Docker only ({target.docker_only}): "
            f"use `edgeloop deploy docker --target {target.key}`"
        )
    command_args(mode, "/", target, run_args)  # bad arguments fail before anything is written
    staged = stage(bundle, target, out, board)
    target = staged.target
    m = staged.manifest
    root = prefix or f"/opt/edgeloop/{m.name}"
    args = command_args(mode, f"{root}/bundle", target, run_args)
    unit_name = f"edgeloop-{m.name}.service"
    files = {
        unit_name: render_unit(target, m.name, m.version, root, user, mode, args),
        f"edgeloop-{m.name}.env": render_env(m.name),
        "install.sh": render_install(target, m.name, root, user, staged.wheel.name),
    }
    files["README.md"] = systemd_readme(target, m.name, mode, root)
    written = []
    for file_name, text in files.items():
        path = out / file_name
        path.write_text(text)
        written.append(path)
    (out / "install.sh").chmod(0o755)
    return SystemdRecipe(out=out, unit=out / unit_name, files=written, choice=staged.choice)
