"""Pinned wheel sets per Python version and runtime. Data only.

Each set is what pip resolves for ``edgeloop[serve,stream]`` plus one inference runtime on
the target's Python, CPU architecture and glibc (tests/deploy/test_pins.py resolves them
again and compares). Images install them with ``--no-deps --only-binary=:all:``.
"""

from __future__ import annotations

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

# edgeloop depends on ONNX Runtime, so images whose inference runs elsewhere (ncnn, LiteRT,
# DepthAI, OpenVINO 2022.3) still carry it: `edgeloop bundle verify` and the golden-sample
# checks import nothing else, and a bundle's ONNX model stays runnable on the CPU.
ORT_PY311 = "onnxruntime==1.32.0"
ORT_PY310 = "onnxruntime==1.23.2"  # the last with cp310 wheels; manylinux_2_27 fits Ubuntu 18.04

# What ai-edge-litert 2.3 adds on Python 3.11.
LITERT_PY311: tuple[str, ...] = ("backports-strenum==1.2.8", "ml-dtypes==0.7.0", "tqdm==4.70.1")

# What the ncnn wheel adds on Python 3.11 (its model zoo helpers download with requests).
NCNN_PY311: tuple[str, ...] = (
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "portalocker==4.4.2",
    "requests==2.34.2",
    "tqdm==4.70.1",
    "urllib3==2.8.0",
)

# OpenVINO 2022.3's Python bindings need numpy < 1.25 (numpy 1.x ABI); OpenCV 4.11 is the
# newest headless build that still accepts numpy 1.24 on Python 3.10.
_NUMPY1 = {"numpy": "numpy==1.24.4", "opencv-python-headless": "opencv-python-headless==4.11.0.86"}
PINS_PY310_NUMPY1: tuple[str, ...] = tuple(_NUMPY1.get(p.split("==")[0], p) for p in PINS_PY310)
