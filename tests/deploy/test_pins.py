"""Each target's pinned set resolves from PyPI for the target's own platform, and is complete.

pip resolves the requirements (metadata only, nothing is installed) as the image's
Python on its CPU architecture and glibc would, wheels only. The resolved set must
be exactly the pinned set: images install with --no-deps, so a missing pin would
be a missing package on the device. Needs the package registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from edgeloop.deploy.context import requirements_text
from edgeloop.deploy.targets import Target, all_targets

ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
# The index behind the Jetson runtime is not reachable from CI; its wheel declares the same
# dependencies as the PyPI release of the same version, which stands in for it here. The NCS2
# image's OpenVINO 2022.3.1 comes from Intel's archive in the base image; its Python bindings
# need what the PyPI wheel of the same release declares (numpy < 1.25).
PYPI_STAND_IN = {"onnxruntime-gpu==1.22.0": "onnxruntime==1.22.0", "openvino==2022.3.1": "openvino==2022.3.1"}
TARGETS = dict(all_targets())
# Each target on each platform its Dockerfile builds for.
CASES = [(key, platform) for key, target in all_targets() for platform in target.platforms]


def platform_args(target: Target, platform: str | None = None) -> list[str]:
    arch = ARCH[platform or target.platform]
    newest = int(target.glibc.split("_")[1])
    args = []
    for minor in range(17, newest + 1):
        args += ["--platform", f"manylinux_2_{minor}_{arch}"]
    return [*args, "--platform", f"manylinux2014_{arch}"]


def normal(req: str) -> str:
    name, version = req.split("==")
    return f"{canonicalize_name(name)}=={version}"


@pytest.mark.parametrize(("key", "platform"), CASES)
def test_pins_resolve_for_the_target_platform(key: str, platform: str, tmp_path: Path) -> None:
    target = TARGETS[key]
    pins = [
        line for line in requirements_text(target).splitlines() if "==" in line and not line.startswith("#")
    ]
    if target.runtime_index is not None or target.runtime_in_base:
        pins.append(PYPI_STAND_IN[target.runtime])
    (tmp_path / "req.txt").write_text("\n".join(pins) + "\n")
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
        "--only-binary=:all:", *platform_args(target, platform), "--python-version", target.python_version,
        "--implementation", "cp", "--target", str(tmp_path / "t"), "--report", str(tmp_path / "r.json"),
        "-r", str(tmp_path / "req.txt"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    resolved = sorted(
        normal(f"{i['metadata']['name']}=={i['metadata']['version']}") for i in report["install"]
    )
    assert resolved == sorted(map(normal, pins))


# Runtimes that install the `onnxruntime` module under another distribution name.
PROVIDES = {"onnxruntime-gpu": "onnxruntime", "onnxruntime-openvino": "onnxruntime"}


@pytest.mark.parametrize("key", sorted(TARGETS))
def test_pins_satisfy_edgeloops_own_requirements(key: str) -> None:
    """A dependency added to pyproject.toml without a pin here fails this test, on every machine."""
    target = TARGETS[key]
    pinned: dict[str, str] = {}
    for req in [*target.pins, target.runtime]:
        name, version = normal(req).split("==")
        pinned[PROVIDES.get(name, name)] = version
    env = {"python_version": target.python_version, "sys_platform": "linux", "platform_system": "Linux"}
    requires = metadata.distribution("edgeloop").requires or []
    checked = 0
    for line in requires:
        req = Requirement(line)
        wanted = [
            extra
            for extra in ("", "serve", "stream")
            if req.marker is None or req.marker.evaluate({**env, "extra": extra})
        ]
        if not wanted:
            continue
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} (needed by edgeloop) has no pin for {key}"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]} breaks {req}"
        checked += 1
    assert checked >= 10
