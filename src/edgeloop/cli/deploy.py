"""``edgeloop deploy``: write a Docker build context or a systemd service for a target."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors

if TYPE_CHECKING:
    from edgeloop.deploy.choose import Choice
    from edgeloop.deploy.context import Mode

app = typer.Typer(
    help="Write deployment recipes (Docker, systemd) for a bundle and a target.", no_args_is_help=True
)

TARGET_HELP = "cpu-amd64, cpu-arm64, rpi, openvino, jetson-jp6, jetson-jp5, jetson-jp4, oak, ncs2, coral."
BOARD_HELP = (
    "rpi: the Raspberry Pi the image is for (raspberry-pi-5, the default, or raspberry-pi-4); "
    "the advisor's predicted latencies on it pick ncnn or ONNX Runtime."
)
MODE_HELP = "serve: the HTTP server; run: a video pipeline (edgeloop run)."
RUN_ARGS_HELP = "Arguments for `edgeloop run` (mode run), e.g. '--source /dev/video0 --sink jsonl:-'."


def _mode(mode: str) -> Mode:
    from edgeloop.errors import DeployError

    if mode == "serve":
        return "serve"
    if mode == "run":
        return "run"
    raise DeployError(f"--mode '{mode}': choose serve or run")


def _said(choice: Choice) -> None:
    if choice.reason:
        err.print(f"runtime: {choice.runtime} ({choice.reason})")
    if choice.hint:
        err.print(f"hint: {choice.hint}")


@app.command("docker")
@handle_errors
def docker(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar (verified first)."),
    target: str = typer.Option(..., "--target", "-t", help=TARGET_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder for the build context."),
    mode: str = typer.Option("serve", help=MODE_HELP),
    run_args: str | None = typer.Option(None, "--run-args", help=RUN_ARGS_HELP),
    device: str | None = typer.Option(None, "--device", help=BOARD_HELP),
) -> None:
    """Write a Docker build context: Dockerfile, pinned requirements, edgeloop wheel, bundle, run.sh."""
    from edgeloop.deploy.docker import write_docker
    from edgeloop.deploy.targets import get_target

    recipe = write_docker(bundle, get_target(target), out, _mode(mode), run_args, device)
    _said(recipe.choice)
    err.print(f"wrote {out} for {target}: image {recipe.image}")
    err.print(f"next: cd {out} && ./run.sh build && ./run.sh   (see {out}/README.md)")


@app.command("systemd")
@handle_errors
def systemd(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar (verified first)."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder for the recipe."),
    target: str = typer.Option("cpu-amd64", "--target", "-t", help=TARGET_HELP),
    mode: str = typer.Option("serve", help=MODE_HELP),
    run_args: str | None = typer.Option(None, "--run-args", help=RUN_ARGS_HELP),
    user: str = typer.Option("edgeloop", help="System user the service runs as (created by install.sh)."),
    prefix: str | None = typer.Option(
        None, help="Install folder on the device (default /opt/edgeloop/NAME)."
    ),
    device: str | None = typer.Option(None, "--device", help=BOARD_HELP),
) -> None:
    """Write a hardened systemd unit, its settings file and install.sh for a device without Docker."""
    from edgeloop.deploy.systemd import write_systemd
    from edgeloop.deploy.targets import get_target

    recipe = write_systemd(
        bundle,
        get_target(target),
        out,
        _mode(mode),
        run_args,
        user,
        prefix,
        device,
    )
    _said(recipe.choice)
    err.print(f"wrote {out} for {target}: unit {recipe.unit.name}")
    err.print(f"next: copy {out} to the device and run sudo ./install.sh   (see {out}/README.md)")
