"""The shape of a deployment target (data only): see ``targets`` for the instances."""

from __future__ import annotations

from dataclasses import dataclass, field

SLIM = "python:3.11-slim-bookworm"
SLIM_SOURCE = "Docker Official Image `python` on Docker Hub (Debian 12 bookworm, CPython 3.11)"

# apt lines. Versions are not pinned (hadolint DL3008): Ubuntu and Debian replace package
# versions with security updates and remove the old ones, so a pin breaks the build.
APT = "apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*"
DEADSNAKES = (
    "apt-get update && apt-get install -y --no-install-recommends software-properties-common gpg-agent"
    " && add-apt-repository -y ppa:deadsnakes/ppa"
    " && apt-get install -y --no-install-recommends python3.10 python3.10-venv"
    " && rm -rf /var/lib/apt/lists/*"
)


@dataclass(frozen=True)
class Target:
    """Where a bundle runs: one base image, one Python, one set of pinned wheels."""

    key: str
    title: str
    platform: str  # docker --platform
    base_image: str
    base_source: str
    python: str  # the interpreter that creates the venv
    python_version: str
    glibc: str  # the base image's glibc, the newest manylinux tag its wheels may use
    pins: tuple[str, ...]
    runtime: str  # the inference runtime wheel, pinned
    runtime_index: str | None = None  # a package index other than PyPI for the runtime
    runtime_source: str = "PyPI"
    runtime_in_base: bool = False  # the base image carries the runtime: pip installs nothing for it
    backend: str = "onnxruntime"  # edgeloop's --backend inside the image
    device: str | None = "cpu"  # edgeloop's --device inside the image (None: the backend's own)
    also_platforms: tuple[str, ...] = ()  # other platforms the same Dockerfile and pins build for
    base_user: str | None = None  # USER the base image must be switched to for apt (it is not root)
    build_setup: tuple[str, ...] = ()  # lines before the venv is made (build stage): RUN, or ADD/USER
    final_setup: tuple[str, ...] = ()  # RUN lines in the final stage (the interpreter)
    final_env: tuple[tuple[str, str], ...] = ()  # ENV the final stage sets (after the base image's)
    copy_from_build: tuple[str, ...] = ()  # paths the final stage takes from the build stage
    docker_flags: tuple[str, ...] = ()  # extra `docker run` flags the target needs, in pairs
    udev_rules: str | None = None  # a host udev rules file the device needs (USB accelerators)
    needs_variant: str | None = None  # a bundle variant made for this backend is required
    needs_hint: str = ""  # how to make that variant
    runs_onnx: bool = False  # the runtime is given the bundle's FP32 ONNX model, never an IR variant
    docker_only: str | None = None  # why `deploy systemd` cannot serve this target
    notes: tuple[str, ...] = field(default_factory=tuple)

    def requirements(self) -> list[str]:
        """Everything pip installs from PyPI (the runtime too, unless it comes from elsewhere)."""
        pins = list(self.pins)
        if self.runtime_index is None and not self.runtime_in_base:
            pins.append(self.runtime)
        return sorted(pins, key=str.lower)

    @property
    def platforms(self) -> tuple[str, ...]:
        """Every platform the pins are resolved for, the default first."""
        return (self.platform, *self.also_platforms)
