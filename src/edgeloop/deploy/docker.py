"""``edgeloop deploy docker``: a build context with a multi-stage Dockerfile per target.

```
OUT/
  Dockerfile        build stage makes a venv from pinned wheels; final stage copies it
  requirements.txt  the pinned runtime (same file install.sh uses)
  wheels/           edgeloop's own wheel, built from the running edgeloop
  bundle/           the verified bundle
  run.sh            builds and runs the image with hardened flags
  README.md
```
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from edgeloop.deploy.base import Target
from edgeloop.deploy.choose import Choice
from edgeloop.deploy.context import PIP_FLAGS, PORT, Mode, command_args, stage, video_devices
from edgeloop.deploy.readme import UDEV_FILE, docker_readme

APP = "/opt/edgeloop"
UID = 10001
VENV_PIP = f"{APP}/venv/bin/pip install {PIP_FLAGS}"
HEALTH_URL = f"http://127.0.0.1:{PORT}/readyz"
UDEV_PATH = f"/etc/udev/rules.d/{UDEV_FILE}"


@dataclass(frozen=True)
class DockerRecipe:
    """What ``write_docker`` wrote."""

    out: Path
    image: str
    files: list[Path]
    choice: Choice  # the runtime it runs and why


def _json(args: list[str]) -> str:
    return json.dumps(args)


def render_dockerfile(
    target: Target, wheel_name: str, mode: Mode, args: list[str], labels: dict[str, str]
) -> str:
    """The Dockerfile text for ``target`` (``args``: what follows ``edgeloop`` at start)."""
    lines = [
        "# syntax=docker/dockerfile:1",
        f"# Written by `edgeloop deploy docker` for target {target.key}: {target.title}.",
        f"# Base image {target.base_image}: {target.base_source}.",
        f"# Build: docker buildx build --platform {target.platform} -t IMAGE --load .",
        "",
        f"FROM {target.base_image} AS build",
    ]
    if target.base_user is not None:
        lines += ["# The base image runs as an unprivileged user; this stage installs packages.",
                  "# hadolint ignore=DL3002", f"USER {target.base_user}"]  # fmt: skip
    lines += ["ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1"]
    lines += _runs(target.build_setup)
    install = [
        f"{target.python} -m venv {APP}/venv",
        f"{VENV_PIP} -r /tmp/build/requirements.txt",
    ]
    if target.runtime_index is not None:
        install.append(f"{VENV_PIP} --index-url {target.runtime_index} {target.runtime}")
    install.append(f"{VENV_PIP} /tmp/build/wheels/{wheel_name}")
    lines += [
        "COPY requirements.txt /tmp/build/requirements.txt",
        "COPY wheels/ /tmp/build/wheels/",
        "# Wheels only (--only-binary) and only the pinned set (--no-deps): nothing is compiled.",
        "RUN " + " \\\n && ".join(install),
        "",
        f"FROM {target.base_image}",
    ]
    if target.base_user is not None:
        lines.append(f"USER {target.base_user}")
    lines += [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
    lines += [f"COPY --from=build {path} {path}" for path in target.copy_from_build]
    lines += _runs(target.final_setup)
    lines += [
        f"RUN groupadd --system --gid {UID} edgeloop \\",
        f" && useradd --system --uid {UID} --gid {UID} --no-create-home --home-dir /nonexistent "
        "--shell /usr/sbin/nologin edgeloop \\",
        " && mkdir /data && chown edgeloop:edgeloop /data",
        f"COPY --from=build {APP}/venv {APP}/venv",
        f"COPY bundle/ {APP}/bundle/",
        f"ENV PATH={APP}/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp"
        + "".join(f" {key}={value}" for key, value in target.final_env),
        "# A broken install or bundle fails the build, not the first start on the device.",
        _json_run(["edgeloop", "bundle", "verify", f"{APP}/bundle"]),
        "WORKDIR /data",
        f"USER {UID}:{UID}",
    ]
    if mode == "serve":
        probe = f"import urllib.request; urllib.request.urlopen('{HEALTH_URL}', timeout=4)"
        lines += [
            f"EXPOSE {PORT}",
            "# /readyz needs no token; it fails while the bundle's golden samples differ.",
            "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\",
            f"  CMD {_json(['python', '-c', probe])}",
        ]
    else:
        lines += [
            "# A video pipeline has no port to probe: the check re-verifies the bundle's files.",
            "HEALTHCHECK --interval=5m --timeout=30s --start-period=30s --retries=1 \\",
            f"  CMD {_json(['edgeloop', 'bundle', 'verify', f'{APP}/bundle'])}",
        ]
    lines += ['ENTRYPOINT ["edgeloop"]', f"CMD {_json(args)}", ""]
    return "\n".join(lines)


# Instructions a target's setup may give as they are (anything else is a RUN command).
_RAW = ("ADD ", "USER ", "ENV ")


def _runs(commands: tuple[str, ...]) -> list[str]:
    out = []
    for command in commands:
        if command.startswith(_RAW):
            out.append(command)
            continue
        if "apt-get install" in command:
            out += [
                "# apt versions are not pinned: Ubuntu deletes superseded ones, so a pin breaks rebuilds.",
                "# hadolint ignore=DL3008",
            ]
        out.append("RUN " + command.replace(" && ", " \\\n && "))
    return out


def _json_run(args: list[str]) -> str:
    return f"RUN {_json(args)}"


def render_run_sh(target: Target, image: str, mode: Mode, args: list[str]) -> str:
    """A script that builds the image and runs it with hardened flags."""
    pairs = target.docker_flags
    flags = [
        "--read-only",
        "--tmpfs /tmp:rw,noexec,nosuid,size=64m",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--pids-limit=256",
        f"--user {UID}:{UID}",
        *[shlex.join(pairs[i : i + 2]) for i in range(0, len(pairs), 2)],
    ]
    if mode == "serve":
        flags += ["-e EDGELOOP_TOKEN", f'-p "$PUBLISH:$PORT:{PORT}"']
    else:
        flags += ['-v "$PWD/data:/data"']
    checks = ""
    for device in video_devices(args):
        # The camera node only (never --privileged), and its group so the non-root user may open it.
        flags.append(f'--device {device} --group-add "$(stat -c %g {device})"')
        checks += (
            f'[ -e {device} ] || {{ echo "error: {device} not found: connect the camera" >&2; exit 1; }}\n'
        )
    if target.udev_rules is not None:
        checks += (
            f'[ -e {UDEV_PATH} ] || echo "warning: {UDEV_PATH} is missing: the device may not be readable '
            f"by uid {UID} (sudo cp {UDEV_FILE} {UDEV_PATH} && sudo udevadm control --reload-rules "
            '&& sudo udevadm trigger)" >&2\n'
        )
    body = " \\\n  ".join(['docker run --rm --name "$NAME"', *flags, '"$IMAGE"'])
    token = ""
    if mode == "serve":
        token = """
# The server listens on all addresses inside the container, so it always needs a token; the
# port is published on the host's loopback unless PUBLISH says otherwise.
PORT="${PORT:-9001}"
PUBLISH="${PUBLISH:-127.0.0.1}"
if [ -z "${EDGELOOP_TOKEN:-}" ]; then
  if [ ! -s token ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > token)
    echo "wrote a new token to $PWD/token" >&2
  fi
  EDGELOOP_TOKEN="$(cat token)"
fi
export EDGELOOP_TOKEN
echo "serving on http://$PUBLISH:$PORT; requests need 'Authorization: Bearer TOKEN'" >&2
"""
    else:
        token = "\nmkdir -p data  # results written to /data land here; make it writable by uid 10001\n"
    return f"""#!/usr/bin/env bash
# Build and run this recipe: ./run.sh build, then ./run.sh
# Target {target.key}: {target.title}. Written by `edgeloop deploy docker`.
set -euo pipefail
cd "$(dirname "$0")"
IMAGE="${{IMAGE:-{image}}}"
NAME="${{NAME:-{image.split(":")[0]}}}"
PLATFORM="${{PLATFORM:-{target.platform}}}"  # builds for: {", ".join(target.platforms)}
if [ "${{1:-}}" = "build" ]; then
  exec docker buildx build --platform "$PLATFORM" -t "$IMAGE" --load .
fi
{token}{checks}
exec {body}
"""


def write_docker(
    bundle: Path,
    target: Target,
    out: Path,
    mode: Mode = "serve",
    run_args: str | None = None,
    board: str | None = None,
) -> DockerRecipe:
    """Verify ``bundle`` and write a Docker build context for ``target`` into ``out``.

    ``board``: the catalogued board a target with a runtime choice is for (``rpi``:
    raspberry-pi-5 or raspberry-pi-4), whose predicted latencies pick the runtime.

    Raises:
        BundleError: the bundle fails verification.
        DeployError: ``out`` is in use, the run arguments are invalid, the bundle lacks the
            model the target needs, or ``board`` does not fit the target.
    """
    command_args(mode, f"{APP}/bundle", target, run_args)  # bad arguments fail before anything is written
    staged = stage(bundle, target, out, board)
    target = staged.target
    args = command_args(mode, f"{APP}/bundle", target, run_args)
    if mode == "serve":
        args += ["--host", "0.0.0.0", "--port", str(PORT)]
    m = staged.manifest
    image = f"edgeloop-{m.name.lower()}:{m.version}-{target.key}"
    labels = {
        "org.opencontainers.image.title": f"edgeloop {m.name}",
        "org.opencontainers.image.version": m.version,
        "io.edgeloop.target": target.key,
        "io.edgeloop.model.sha256": (m.onnx_variant() if target.runs_onnx else m.variant()).sha256,
    }
    files = {
        "Dockerfile": render_dockerfile(target, staged.wheel.name, mode, args, labels),
        ".dockerignore": f"run.sh\nREADME.md\ntoken\ndata/\ncontext.json\n{UDEV_FILE}\n",
        "run.sh": render_run_sh(target, image, mode, args),
    }
    if target.udev_rules is not None:
        files[UDEV_FILE] = f"# Host udev rule for {target.title}: sudo cp {UDEV_FILE} {UDEV_PATH}\n" + (
            target.udev_rules
        )
    files["README.md"] = docker_readme(target, image, mode, m.name, staged.choice)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    (out / "run.sh").chmod(0o755)
    return DockerRecipe(out=out, image=image, files=written, choice=staged.choice)
