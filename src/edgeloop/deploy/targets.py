"""Deployment targets: base images, Python, pinned runtime wheels, devices. Data only.

The pins are the full set of packages ``edgeloop[serve,stream]`` needs on each
Python version (checked by resolving them for the target's platform in the
tests), so an image or a venv built from them is the same every time. Images
install them with ``--no-deps --only-binary=:all:``: nothing is compiled and
nothing unpinned comes in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeloop.errors import DeployError

# edgeloop[serve,stream] and their dependencies on Python 3.11 (Debian bookworm images),
# without the inference runtime, which each target picks.
PINS_PY311: tuple[str, ...] = (
    "annotated-doc==0.0.7",
    "annotated-types==0.8.0",
    "anyio==4.16.0",
    "cffi==2.1.1",
    "click==8.5.1",
    "cryptography==50.0.2",
    "fastapi==0.165.0",
    "flatbuffers==25.12.19",
    "h11==0.16.0",
    "httptools==0.9.0",
    "idna==3.20",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "numpy==2.4.6",
    "opencv-python-headless==5.0.0.93",
    "opentelemetry-api==1.45.2",
    "packaging==26.3",
    "paho-mqtt==2.2.0",
    "pillow==12.2.0",
    "prometheus-client==0.26.0",
    "protobuf==7.36.2",
    "pycparser==3.12",
    "pydantic-core==2.50.4",
    "pydantic==2.14.3",
    "pygments==2.21.0",
    "python-dotenv==1.2.4",
    "python-multipart==0.0.34",
    "pyyaml==6.0.3",
    "rich==15.0.0",
    "shellingham==1.5.4",
    "simplejpeg==1.9.0",
    "starlette==1.10.0",
    "typer==0.29.2",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.5",
    "uvicorn==0.54.0",
    "uvloop==0.23.0",
    "watchfiles==1.3.0",
    "websockets==17.4",
)

# The same on Python 3.10 (Ubuntu 22.04 in JetPack 6, deadsnakes on JetPack 5): several
# packages' newest releases need 3.11, and ONNX Runtime 1.2x also needs coloredlogs and sympy.
PINS_PY310: tuple[str, ...] = (
    "annotated-doc==0.0.6",
    "annotated-types==0.8.0",
    "anyio==4.16.0",
    "cffi==2.1.1",
    "click==8.5.1",
    "coloredlogs==15.0.1",
    "cryptography==50.0.2",
    "fastapi==0.162.5",
    "flatbuffers==25.12.19",
    "h11==0.16.0",
    "httptools==0.9.0",
    "humanfriendly==10.0",
    "idna==3.20",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "mpmath==1.3.0",
    "numpy==2.2.6",
    "opencv-python-headless==5.0.0.93",
    "opentelemetry-api==1.45.2",
    "packaging==26.3",
    "paho-mqtt==2.2.0",
    "pillow==12.2.0",
    "prometheus-client==0.26.0",
    "protobuf==7.36.2",
    "pycparser==3.11",
    "pydantic-core==2.50.4",
    "pydantic==2.14.3",
    "pygments==2.21.0",
    "python-dotenv==1.2.4",
    "python-multipart==0.0.32",
    "pyyaml==6.0.3",
    "rich==15.0.0",
    "shellingham==1.5.4",
    "simplejpeg==1.9.0",
    "starlette==1.7.0",
    "sympy==1.14.0",
    "typer==0.29.1",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.5",
    "uvicorn==0.54.0",
    "uvloop==0.23.0",
    "watchfiles==1.3.0",
    "websockets==16.1.1",
)

SLIM = "python:3.11-slim-bookworm"
SLIM_SOURCE = "Docker Official Image `python` on Docker Hub (Debian 12 bookworm, CPython 3.11)"
JETSON_INDEX = "https://pypi.jetson-ai-lab.io/jp6/cu126"

# apt lines for the Jetson images. Versions are not pinned (hadolint DL3008): Ubuntu replaces
# package versions with security updates and removes the old ones, so a pin breaks the build.
_APT = "apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*"
_DEADSNAKES = (
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
    device: str = "cpu"  # edgeloop's --device inside the image
    build_setup: tuple[str, ...] = ()  # RUN lines before the venv is made (build stage)
    final_setup: tuple[str, ...] = ()  # RUN lines in the final stage (the interpreter)
    copy_from_build: tuple[str, ...] = ()  # paths the final stage takes from the build stage
    docker_flags: tuple[str, ...] = ()  # extra `docker run` flags the target needs
    notes: tuple[str, ...] = field(default_factory=tuple)

    def requirements(self) -> list[str]:
        """Everything pip installs from PyPI (the runtime too, unless it has its own index)."""
        pins = list(self.pins)
        if self.runtime_index is None:
            pins.append(self.runtime)
        return sorted(pins, key=str.lower)


TARGETS: dict[str, Target] = {
    "cpu-amd64": Target(
        key="cpu-amd64",
        title="x86-64 CPU (ONNX Runtime)",
        platform="linux/amd64",
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=PINS_PY311,
        runtime="onnxruntime==1.32.0",
    ),
    "cpu-arm64": Target(
        key="cpu-arm64",
        title="64-bit Arm CPU (ONNX Runtime)",
        platform="linux/arm64",
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=PINS_PY311,
        runtime="onnxruntime==1.32.0",
    ),
    "rpi": Target(
        key="rpi",
        title="Raspberry Pi 4/5, 64-bit Raspberry Pi OS (ONNX Runtime on the CPU)",
        platform="linux/arm64",
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=PINS_PY311,
        runtime="onnxruntime==1.32.0",
        notes=("32-bit Raspberry Pi OS is not supported: PyPI has no armv7 ONNX Runtime wheels.",),
    ),
    "openvino": Target(
        key="openvino",
        title="Intel CPU/iGPU with OpenVINO (ONNX Runtime's OpenVINO execution provider)",
        platform="linux/amd64",
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=(*PINS_PY311, "mpmath==1.3.0", "sympy==1.14.0"),
        runtime="onnxruntime-openvino==1.24.1",
        device="openvino",
    ),
    "jetson-jp6": Target(
        key="jetson-jp6",
        title="NVIDIA Jetson Orin, JetPack 6 (L4T r36.4, CUDA 12.6)",
        platform="linux/arm64",
        base_image="nvcr.io/nvidia/l4t-jetpack:r36.4.0",
        base_source="NVIDIA NGC `l4t-jetpack` (JetPack 6.1 = L4T r36.4.0: Ubuntu 22.04, CUDA 12.6, "
        "cuDNN 9, TensorRT 10)",
        python="python3",
        python_version="3.10",
        glibc="2_35",
        pins=PINS_PY310,
        runtime="onnxruntime-gpu==1.22.0",
        runtime_index=JETSON_INDEX,
        runtime_source=f"NVIDIA Jetson AI Lab package index {JETSON_INDEX} (aarch64, cp310, CUDA 12.6)",
        device="cuda",
        build_setup=(_APT.format("python3-venv"),),
        final_setup=(_APT.format("python3"),),
        docker_flags=("--runtime", "nvidia"),
    ),
    "jetson-jp5": Target(
        key="jetson-jp5",
        title="NVIDIA Jetson Xavier/Orin, JetPack 5 (L4T r35.4, CUDA 11.4), CPU inference",
        platform="linux/arm64",
        base_image="nvcr.io/nvidia/l4t-jetpack:r35.4.1",
        base_source="NVIDIA NGC `l4t-jetpack` (JetPack 5.1.2 = L4T r35.4.1: Ubuntu 20.04, CUDA 11.4, "
        "cuDNN 8.6, TensorRT 8.5)",
        python="python3.10",
        python_version="3.10",
        glibc="2_31",
        pins=PINS_PY310,
        runtime="onnxruntime==1.23.2",
        build_setup=(_DEADSNAKES,),
        copy_from_build=("/etc/apt/sources.list.d/", "/etc/apt/trusted.gpg.d/"),
        final_setup=(_APT.format("python3.10"),),
        docker_flags=("--runtime", "nvidia"),
        notes=(
            "NVIDIA's onnxruntime-gpu wheels for JetPack 5 (Jetson Zoo: onnxruntime_gpu 1.16.0 to 1.18.0, "
            "cp38) are built for Ubuntu 20.04's Python 3.8; edgeloop needs Python 3.10 or newer, so this "
            "image installs Python 3.10 from the deadsnakes PPA and runs ONNX Runtime on the CPU cores.",
        ),
    ),
}


def get_target(key: str) -> Target:
    """The target named ``key``.

    Raises:
        DeployError: unknown target.
    """
    try:
        return TARGETS[key]
    except KeyError:
        raise DeployError(f"unknown target '{key}': choose one of {', '.join(TARGETS)}") from None
