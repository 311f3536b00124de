"""The CPU recipe's install steps, run for real: a fresh venv from the pinned wheels runs the bundle.

This is what the cpu-amd64 Dockerfile's build stage and install.sh do, minus Docker (no engine
runs here): same requirements file, same pip flags, same edgeloop wheel. It needs the package
registry (about a minute with a warm pip cache) and catches a recipe that no longer installs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle
from edgeloop.deploy.context import PIP_FLAGS
from edgeloop.deploy.docker import write_docker
from edgeloop.deploy.systemd import write_systemd
from edgeloop.deploy.targets import get_target
from tests.deploy.conftest import stages
from tests.deploy.test_systemd import verify_unit
from tests.stream.conftest import free_port

# The first run downloads the wheels (~150 MB); pip's cache serves later ones.
pytestmark = pytest.mark.timeout(900)


def venv_env() -> dict[str, str]:
    """This environment without PYTHONPATH: the installed venv must run its own copy of edgeloop (a
    service has no PYTHONPATH; pytest-xdist workers and `PYTHONPATH=src` runs of the suite set one)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@dataclass(frozen=True)
class Installed:
    docker: Path  # the cpu-amd64 build context
    recipe: Path  # the systemd recipe folder
    prefix: Path  # where install.sh put the venv and the bundle
    unit: Path


@pytest.fixture(scope="module")
def installed(yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    target = get_target("cpu-amd64")
    docker = root / "docker"
    write_docker(yolo_bundle.root, target, docker)
    prefix = root / "opt"
    recipe = write_systemd(yolo_bundle.root, target, root / "systemd", prefix=str(prefix))
    env = {**os.environ, "PREFIX": str(prefix), "PYTHON": sys.executable}
    result = subprocess.run(
        [str(recipe.out / "install.sh"), "--no-system"], capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Installed(docker=docker, recipe=recipe.out, prefix=prefix, unit=recipe.unit)


def test_installer_uses_the_dockerfiles_files_and_flags(installed: Installed) -> None:
    docker, recipe = installed.docker, installed.recipe
    assert (docker / "requirements.txt").read_bytes() == (recipe / "requirements.txt").read_bytes()
    wheels = sorted(p.name for p in (docker / "wheels").iterdir())
    assert wheels == sorted(p.name for p in (recipe / "wheels").iterdir())
    # The wheel is rebuilt for each recipe and comes out byte for byte the same.
    assert (docker / "wheels" / wheels[0]).read_bytes() == (recipe / "wheels" / wheels[0]).read_bytes()
    dockerfile = (docker / "Dockerfile").read_text()
    install_sh = (recipe / "install.sh").read_text()
    assert f"pip install {PIP_FLAGS} -r /tmp/build/requirements.txt" in dockerfile
    assert f"pip install {PIP_FLAGS} /tmp/build/wheels/{wheels[0]}" in dockerfile
    assert f'pip" install {PIP_FLAGS} -r requirements.txt' in install_sh
    assert f'pip" install {PIP_FLAGS} wheels/{wheels[0]}' in install_sh


def test_venv_holds_exactly_the_pins(installed: Installed) -> None:
    python = installed.prefix / "venv" / "bin" / "python"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--exclude", "pip", "--exclude", "setuptools"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    freeze = [f"{p['name']}=={p['version']}" for p in json.loads(listed)]
    pins = [line for line in (installed.docker / "requirements.txt").read_text().splitlines() if "==" in line]

    def norm(req: str) -> str:
        return req.lower().replace("_", "-")

    assert sorted(map(norm, freeze)) == sorted(map(norm, [*pins, "edgeloop==0.1.0"]))
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout  # every dependency of every package is pinned
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0


def test_installed_edgeloop_runs_the_bundle(installed: Installed, scene_jpeg: Path) -> None:
    edgeloop = installed.prefix / "venv" / "bin" / "edgeloop"
    bundle = installed.prefix / "bundle"
    verified = subprocess.run(
        [str(edgeloop), "bundle", "verify", str(bundle)], capture_output=True, text=True, env=venv_env()
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.startswith("ok: bundle ")
    predicted = subprocess.run(
        [str(edgeloop), "predict", str(bundle), str(scene_jpeg), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=venv_env(),
    )
    assert predicted.returncode == 0, predicted.stderr
    record = json.loads(predicted.stdout)
    assert sorted(p["class"] for p in record["predictions"]) == ["green", "red"]
    # It runs the copy in the venv, not this checkout.
    where = subprocess.run(
        [
            str(installed.prefix / "venv" / "bin" / "python"),
            "-c",
            "import edgeloop; print(edgeloop.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed.prefix,
        env=venv_env(),
    )
    assert where.stdout.startswith(str(installed.prefix / "venv"))


def test_unit_verifies_against_the_install(installed: Installed) -> None:
    verify_unit(installed.unit)


def test_image_command_and_healthcheck_run_from_the_install(installed: Installed) -> None:
    """The Dockerfile's CMD and HEALTHCHECK, run with the installed venv in place of the image."""
    _, final = stages((installed.docker / "Dockerfile").read_text())
    port = str(free_port())

    def local(args: list[str]) -> list[str]:
        swap = {"/opt/edgeloop/bundle": str(installed.prefix / "bundle"), "9001": port}
        return [swap.get(a, a).replace(":9001/", f":{port}/") for a in args]

    cmd = local(json.loads(final[-1].removeprefix("CMD ")))
    health = json.loads(next(i for i in final if i.startswith("HEALTHCHECK")).split(" CMD ", 1)[1])
    bin_dir = installed.prefix / "venv" / "bin"
    health = local([str(bin_dir / health[0]), *health[1:]])
    edgeloop = str(bin_dir / "edgeloop")
    env = {k: v for k, v in venv_env().items() if k != "EDGELOOP_TOKEN"}
    refused = subprocess.run([edgeloop, *cmd], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 1
    assert "error: refusing to listen on 0.0.0.0 without a token" in refused.stderr
    server = subprocess.Popen(
        [edgeloop, *cmd], env={**env, "EDGELOOP_TOKEN": "s3cret"}, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(health, capture_output=True).returncode != 0:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/v1/models"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=5)
        assert denied.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
