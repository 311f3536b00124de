"""Targets for the accelerator boards: OAK, Movidius NCS2, Jetson Nano, Coral; ncnn on a Pi. Data only.

Every one of these is untested on hardware: the tests lint the Dockerfiles and resolve
the pins for each platform; no image is built and no device is opened here.
"""

from __future__ import annotations

from edgeloop.deploy.base import APT, DEADSNAKES, SLIM, SLIM_SOURCE, Target
from edgeloop.deploy.pins import (
    LITERT_PY311,
    NCNN_PY311,
    ORT_PY310,
    ORT_PY311,
    PINS_PY310,
    PINS_PY310_NUMPY1,
    PINS_PY311,
)

# USB accelerators: the container sees the whole USB bus (the devices re-enumerate with a new
# address, and for Myriad X a new product id, once their firmware is loaded, so a single
# --device node would vanish) and may open character devices of major 189 (USB) only; the
# host's udev rule makes those nodes readable by the image's unprivileged user.
USB_FLAGS = ("--device-cgroup-rule", "c 189:* rmw", "-v", "/dev/bus/usb:/dev/bus/usb")

# Intel Movidius Myriad X (vendor 03e7): the NCS2, and the OAK cameras' RVC2 (OAK4's RVC4 too).
MOVIDIUS_RULES = 'SUBSYSTEM=="usb", ATTRS{idVendor}=="03e7", MODE="0666"\n'
# Coral USB Accelerator: 1a6e:089a before its firmware is loaded, 18d1:9302 after.
CORAL_RULES = (
    'SUBSYSTEM=="usb", ATTRS{idVendor}=="1a6e", ATTRS{idProduct}=="089a", MODE="0666"\n'
    'SUBSYSTEM=="usb", ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302", MODE="0666"\n'
)

# CPython 3.10 for Ubuntu 18.04 aarch64 (JetPack 4): python-build-standalone's portable build,
# linked against an older glibc than 18.04's 2.27; the sha256 is the one uv's download metadata
# lists for this file.
PBS_URL = (
    "https://github.com/indygreg/python-build-standalone/releases/download/20240909/"
    "cpython-3.10.15%2B20240909-aarch64-unknown-linux-gnu-install_only_stripped.tar.gz"
)
PBS_SHA256 = "e3af89047c713b812779aaa576a364b77f9ebbbbe182fd6bda03a52d3166ee14"

_CORAL_KEYRING = "/usr/share/keyrings/coral-edgetpu.gpg"
_CORAL_LIST = "/etc/apt/sources.list.d/coral-edgetpu.list"
_CORAL_REPO = (
    "apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg"
    " && curl -fsSL -o /tmp/coral.asc https://packages.cloud.google.com/apt/doc/apt-key.gpg"
    f" && gpg --dearmor -o {_CORAL_KEYRING} /tmp/coral.asc && rm /tmp/coral.asc"
    f' && echo "deb [signed-by={_CORAL_KEYRING}] https://packages.cloud.google.com/apt'
    f' coral-edgetpu-stable main" > {_CORAL_LIST}'
    " && rm -rf /var/lib/apt/lists/*"
)

OV2022 = "/opt/intel/openvino"

BOARDS: dict[str, Target] = {
    "oak": Target(
        key="oak",
        title="Luxonis OAK camera (RVC2/RVC4) on a 64-bit host over USB (DepthAI)",
        platform="linux/arm64",
        also_platforms=("linux/amd64",),
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=(*PINS_PY311, ORT_PY311),
        runtime="depthai==3.12.0",
        runtime_source="PyPI (manylinux wheels for cp311 aarch64 and x86_64; RVC2 and RVC4)",
        backend="depthai",
        device=None,
        docker_flags=USB_FLAGS,
        udev_rules=MOVIDIUS_RULES,
        needs_variant="depthai",
        needs_hint="`edgeloop optimize BUNDLE --target myriad --out NEW` (an RVC2 blob; docs/targets/oak.md)",
        notes=(
            "The network runs on the camera; edgeloop decodes its outputs on the host. For an x86-64 "
            "host build with `PLATFORM=linux/amd64 ./run.sh build`: the pins are the same.",
            "OAK4 (RVC4) and PoE cameras on Ethernet are found by broadcast discovery, which Docker's "
            "default bridge network does not forward; the USB flags here cover USB-connected cameras.",
        ),
    ),
    "ncs2": Target(
        key="ncs2",
        title="Intel Movidius Neural Compute Stick 2 (Myriad X) on an x86-64 host, OpenVINO 2022.3 LTS",
        platform="linux/amd64",
        base_image="openvino/ubuntu20_runtime:2022.3.1",
        base_source="Intel's OpenVINO runtime image on Docker Hub (Ubuntu 20.04, OpenVINO 2022.3.1 LTS "
        "archive in /opt/intel/openvino with the MYRIAD plugin, its firmware and libusb)",
        python="python3.10",
        python_version="3.10",
        glibc="2_31",
        pins=(*PINS_PY310_NUMPY1, ORT_PY310),
        runtime="openvino==2022.3.1",
        runtime_source="the base image's OpenVINO 2022.3.1 archive (PyPI's openvino wheels never "
        "carried the MYRIAD plugin)",
        runtime_in_base=True,
        backend="openvino",
        device="MYRIAD",
        base_user="0",  # root, by number
        build_setup=(
            DEADSNAKES,
            f"test -d {OV2022}/python/python3.10/openvino"
            f' || {{ echo "no OpenVINO Python 3.10 bindings in {OV2022}/python" >&2; exit 1; }}',
        ),
        copy_from_build=("/etc/apt/sources.list.d/", "/etc/apt/trusted.gpg.d/"),
        final_setup=(APT.format("python3.10"),),
        final_env=(("PYTHONPATH", f"{OV2022}/python/python3.10"),),
        docker_flags=USB_FLAGS,
        udev_rules=MOVIDIUS_RULES,
        docker_only="the MYRIAD plugin comes from OpenVINO 2022.3's archive in Intel's runtime image",
        runs_onnx=True,
        notes=(
            "OpenVINO 2022.3 LTS is the last release with the MYRIAD plugin. The image runs the bundle's "
            "FP32 ONNX model, which 2022.3 reads directly (the plugin computes in FP16), and never an "
            "OpenVINO IR variant: IRs written by newer OpenVINO releases may use operator versions "
            "2022.3 cannot read. A bundle without an FP32 ONNX model is refused.",
        ),
    ),
    "jetson-jp4": Target(
        key="jetson-jp4",
        title="NVIDIA Jetson Nano, JetPack 4.6 (L4T r32.7, Ubuntu 18.04), ONNX Runtime on the CPU",
        platform="linux/arm64",
        base_image="nvcr.io/nvidia/l4t-base:r32.7.1",
        base_source="NVIDIA NGC `l4t-base` (JetPack 4.6.1 = L4T r32.7.1: Ubuntu 18.04, glibc 2.27; "
        "CUDA 10.2 and TensorRT 8.2 are mounted from the host by the NVIDIA runtime)",
        python="/opt/python/bin/python3.10",
        python_version="3.10",
        glibc="2_27",
        pins=PINS_PY310,
        runtime=ORT_PY310,
        runtime_source="PyPI (the last ONNX Runtime for CPython 3.10; manylinux_2_27 fits glibc 2.27)",
        build_setup=(
            f"ADD --checksum=sha256:{PBS_SHA256} {PBS_URL} /tmp/python.tar.gz",
            "tar -xzf /tmp/python.tar.gz -C /opt && rm /tmp/python.tar.gz",
        ),
        copy_from_build=("/opt/python/",),
        docker_only="JetPack 4's system Python is 3.6; the image brings its own CPython 3.10",
        notes=(
            "edgeloop needs Python 3.10; JetPack 4 ships 3.6 and deadsnakes has no Ubuntu 18.04 builds, "
            "so the image carries python-build-standalone's CPython 3.10, built for old glibc releases. "
            "TensorRT 8.2's Python bindings and NVIDIA's onnxruntime-gpu wheels for JetPack 4 are built "
            "for Python 3.6 only, and edgeloop's TensorRT backend needs TensorRT 8.6+ with CUDA 12, so "
            "inference runs on the four Cortex-A57 cores with ONNX Runtime. The GPU is not used.",
        ),
    ),
    "coral": Target(
        key="coral",
        title="Google Coral Edge TPU (USB Accelerator) on a 64-bit host (LiteRT + libedgetpu)",
        platform="linux/arm64",
        also_platforms=("linux/amd64",),
        base_image=SLIM,
        base_source=SLIM_SOURCE,
        python="python",
        python_version="3.11",
        glibc="2_36",
        pins=(*PINS_PY311, ORT_PY311, *LITERT_PY311),
        runtime="ai-edge-litert==2.3.0",
        runtime_source="PyPI; the Edge TPU library libedgetpu1-std from Coral's apt repository "
        "(fetched when the image is built, never at run time)",
        backend="litert",
        device="edgetpu",
        build_setup=(_CORAL_REPO,),
        copy_from_build=(_CORAL_LIST, _CORAL_KEYRING),
        final_setup=(APT.format("libedgetpu1-std"),),
        docker_flags=USB_FLAGS,
        udev_rules=CORAL_RULES,
        needs_variant="litert",
        needs_hint="`edgetpu_compiler` from a fully INT8 .tflite, then "
        "`edgeloop import MODEL_edgetpu.tflite --skip-check --out NEW` (docs/targets/coral.md)",
        docker_only="libedgetpu comes from Coral's apt repository, which the image adds",
        notes=(
            "The model must be a fully INT8 .tflite compiled for the Edge TPU by `edgetpu_compiler` "
            "(x86-64 only): operations it cannot map run on the host CPU.",
        ),
    ),
}

# The Raspberry Pi target when the advisor predicts ncnn faster for the bundle (deploy.choose).
RPI_NCNN = Target(
    key="rpi",
    title="Raspberry Pi 4/5, 64-bit Raspberry Pi OS (ncnn on the CPU)",
    platform="linux/arm64",
    base_image=SLIM,
    base_source=SLIM_SOURCE,
    python="python",
    python_version="3.11",
    glibc="2_36",
    pins=(*PINS_PY311, ORT_PY311, *NCNN_PY311),
    runtime="ncnn==1.0.20261020",
    backend="ncnn",
    device=None,
    notes=("32-bit Raspberry Pi OS is not supported: the images are for 64-bit Arm.",),
)
