"""The README.md written into each recipe folder: what to type on the device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeloop.deploy.base import Target
from edgeloop.deploy.context import PORT, Mode

if TYPE_CHECKING:
    from edgeloop.deploy.choose import Choice

UDEV_FILE = "80-edgeloop-usb.rules"

UNTESTED = (
    "**Untested on hardware; this image has never been built by edgeloop's tests** (no Docker "
    "engine runs there). The tests lint this Dockerfile with hadolint, resolve its pinned wheels for "
    "the target's platform, and install the cpu-amd64 pins and edgeloop wheel into a fresh venv that "
    "then runs a bundle."
)
UNTESTED_SYSTEMD = (
    "**Untested on hardware.** edgeloop's tests check this unit with `systemd-analyze verify` and "
    "`systemd-analyze security`, resolve the pinned wheels for the target's platform, and run "
    "`install.sh --no-system` for cpu-amd64 (a fresh venv that then runs a bundle); they never "
    "start the service."
)


def _notes(target: Target) -> str:
    return "".join(f"\n> {note}\n" for note in target.notes)


def _runtime(target: Target, choice: Choice | None) -> str:
    device = f" on device {target.device}" if target.device else ""
    text = f"- Inference: edgeloop's `{target.backend}` backend{device}."
    if choice is not None and choice.reason:
        text += f"\n- Runtime choice: **{choice.runtime}** ({choice.reason}); also in `context.json`."
        if choice.hint:
            text += f"\n  To run the faster one: {choice.hint}."
    return text


def _usb(target: Target) -> str:
    if target.udev_rules is None:
        return ""
    return f"""
## The USB device

On the host, once, install the udev rule written here so that the image's
unprivileged user (uid 10001) may open the device, then plug it in again:

```console
$ sudo cp {UDEV_FILE} /etc/udev/rules.d/ && sudo udevadm control --reload-rules && sudo udevadm trigger
```

`run.sh` gives the container the USB bus (`-v /dev/bus/usb:/dev/bus/usb`) and
lets it open USB character devices only (`--device-cgroup-rule='c 189:* rmw'`):
the device changes its USB address once its firmware is loaded, so a single
`--device` node would disappear. No `--privileged`.
"""


def docker_readme(target: Target, image: str, mode: Mode, name: str, choice: Choice | None = None) -> str:
    """README for a Docker build context."""
    if mode == "serve":
        use = f"""Check it (the token is in `./token` unless you set `EDGELOOP_TOKEN`):

```console
$ curl -s http://127.0.0.1:{PORT}/readyz
$ curl -s -H "Authorization: Bearer $(cat token)" -X POST --data-binary @photo.jpg \\
    -H 'Content-Type: image/jpeg' http://127.0.0.1:{PORT}/v1/models/{name}/predict
```

The port is published on the host's loopback only. `PUBLISH=0.0.0.0 ./run.sh`
exposes it to the network; the token is required either way, because inside
its container the server listens on every address."""
    else:
        use = """Results written to files go to `/data` in the container, which is `./data`
here (make it writable by uid 10001: `sudo chown 10001 data`)."""
    runtime = target.runtime_source
    return f"""# edgeloop: bundle {name} on {target.title}

{UNTESTED}
{_notes(target)}
- Base image: `{target.base_image}` ({target.base_source}).
- Runtime: `{target.runtime}` from {runtime}; everything else pinned in `requirements.txt`
  (Python {target.python_version}), installed from wheels only.
{_runtime(target, choice)}
- edgeloop itself: `wheels/`, a wheel built from the edgeloop that wrote this folder.

```console
$ ./run.sh build        # docker buildx build --platform {target.platform} -t {image} --load .
$ ./run.sh              # docker run with the hardened flags below
```
{_platforms(target)}
{use}
{_usb(target)}
`run.sh` runs the container with a read-only root (`--read-only`, a small
tmpfs on `/tmp`), no capabilities (`--cap-drop=ALL`),
`--security-opt=no-new-privileges`, as uid 10001, and never `--privileged`:
a camera is passed as its device node only (`--device /dev/video0`).
Nothing is downloaded when the container runs.
"""


def _platforms(target: Target) -> str:
    if not target.also_platforms:
        return ""
    other = target.also_platforms[0]
    return f"\nOn a {other} host: `PLATFORM={other} ./run.sh build` (the same pins).\n"


def systemd_readme(target: Target, name: str, mode: Mode, prefix: str) -> str:
    """README for a systemd recipe folder."""
    unit = f"edgeloop-{name}.service"
    return f"""# edgeloop: bundle {name} as a systemd service ({target.title})

{UNTESTED_SYSTEMD}
{_notes(target)}
Copy this folder to the device, then:

```console
$ sudo ./install.sh
started {unit}: systemctl status {unit}; journalctl -u {unit} -f
```

`install.sh` makes a venv in `{prefix}/venv` with the pinned wheels of
`requirements.txt` (Python {target.python_version}, runtime `{target.runtime}`),
installs edgeloop from `wheels/`, copies and verifies the bundle, creates the
service user, installs `/etc/edgeloop/{name}.env` (kept when you reinstall) and
enables `{unit}`.

The service runs `edgeloop {mode}` as a dedicated user with a read-only
system (`ProtectSystem=strict`), `NoNewPrivileges`, no capabilities, a private
`/tmp`, and restarts on failure. It writes only to `/var/lib/edgeloop/{name}`.
{_listens(mode)}"""


def _listens(mode: Mode) -> str:
    if mode != "serve":
        return ""
    return f"It listens on 127.0.0.1:{PORT} unless the settings file sets a host and a token.\n"
