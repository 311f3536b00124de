"""Deployment targets: base images, Python, pinned runtime wheels, devices. Data only.

The pins are the full set of packages ``edgeloop[serve,stream]`` needs on each
Python version (checked by resolving them for the target's platform in the
tests), so an image or a venv built from them is the same every time. Images
install them with ``--no-deps --only-binary=:all:``: nothing is compiled and
nothing unpinned comes in.
"""

from __future__ import annotations

from edgeloop.deploy.base import APT, DEADSNAKES, SLIM, SLIM_SOURCE, Target

__all__ = ["ALTERNATIVES", "TARGETS", "Target", "all_targets", "get_target"]
from edgeloop.deploy.boards import BOARDS, RPI_NCNN
from edgeloop.deploy.pins import PINS_PY310, PINS_PY311
from edgeloop.errors import DeployError

JETSON_INDEX = "https://pypi.jetson-ai-lab.io/jp6/cu126"

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
        build_setup=(APT.format("python3-venv"),),
        final_setup=(APT.format("python3"),),
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
        build_setup=(DEADSNAKES,),
        copy_from_build=("/etc/apt/sources.list.d/", "/etc/apt/trusted.gpg.d/"),
        final_setup=(APT.format("python3.10"),),
        docker_flags=("--runtime", "nvidia"),
        notes=(
            "NVIDIA's onnxruntime-gpu wheels for JetPack 5 (Jetson Zoo: onnxruntime_gpu 1.16.0 to 1.18.0, "
            "cp38) are built for Ubuntu 20.04's Python 3.8; edgeloop needs Python 3.10 or newer, so this "
            "image installs Python 3.10 from the deadsnakes PPA and runs ONNX Runtime on the CPU cores.",
        ),
    ),
    **BOARDS,
}

# Other runtimes a target switches to where the advisor predicts them faster (deploy.choose).
ALTERNATIVES: dict[str, dict[str, Target]] = {"rpi": {"ncnn": RPI_NCNN}}


def all_targets() -> list[tuple[str, Target]]:
    """Every target and alternative, named ``key`` or ``key+runtime`` (for the pin tests)."""
    out = list(TARGETS.items())
    for key, alternatives in ALTERNATIVES.items():
        out += [(f"{key}+{runtime}", target) for runtime, target in alternatives.items()]
    return out


def get_target(key: str) -> Target:
    """The target named ``key``.

    Raises:
        DeployError: unknown target.
    """
    try:
        return TARGETS[key]
    except KeyError:
        raise DeployError(f"unknown target '{key}': choose one of {', '.join(TARGETS)}") from None
