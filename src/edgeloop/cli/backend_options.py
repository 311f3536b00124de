"""The backend flags every command that runs a model shares: --backend, --device, --threads.

Each command declares them with these functions and builds the one typed
``BackendConfig`` with ``backend_settings``; what a flag means per backend is
declared by the backend's own config (``--threads`` is ONNX Runtime's intra-op
threads and OpenVINO's INFERENCE_NUM_THREADS, and is refused by TensorRT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from edgeloop.backends import BackendConfig

# Spelled out so that `edgeloop --help` does not import the backends; a test checks the list.
BACKEND_NAMES = ("onnxruntime", "openvino", "tensorrt", "depthai", "litert", "ncnn", "null")
DEVICE_HELP = (
    "Device (default: the CPU). onnxruntime: cpu, cuda, tensorrt, openvino, coreml, auto; "
    "openvino: CPU, GPU, NPU, AUTO, MYRIAD (an NCS2, OpenVINO 2022.3 only); tensorrt: GPU index; "
    "depthai: the OAK camera's id or IP; litert: cpu, edgetpu (a Coral)."
)


def backend_option() -> Any:
    """``--backend NAME``."""
    return typer.Option("onnxruntime", "--backend", help=f"Backend: {', '.join(BACKEND_NAMES)}.")


def backends_option() -> Any:
    """``--backend NAME``, repeatable (``edgeloop bench``)."""
    return typer.Option(
        ["onnxruntime"], "--backend", help=f"Backend to run, repeat for several: {', '.join(BACKEND_NAMES)}."
    )


def device_option() -> Any:
    """``--device DEVICE`` (None: the backend's default)."""
    return typer.Option(None, "--device", help=DEVICE_HELP)


def threads_option(extra: str = "") -> Any:
    """``--threads N`` (0: the runtime decides)."""
    return typer.Option(
        0,
        "--threads",
        min=0,
        help="CPU inference threads (0: the runtime decides; refused by backends that cannot set them)"
        + (f"; {extra}" if extra else "")
        + ".",
    )


def backend_settings(backend: str, device: str | None, threads: int) -> BackendConfig:
    """The typed settings the flags ask for, validated once here.

    Raises:
        ConfigError: an unknown backend or device, or --threads for a backend that cannot honour it;
            the message names the flag and what is allowed.
    """
    from edgeloop.backends import backend_config

    return backend_config(backend, device, threads)
