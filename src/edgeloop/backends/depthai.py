"""DepthAI backend: the network runs on a Luxonis OAK camera, edgeloop decodes on the host.

Loads a Luxonis NN Archive (``.tar.xz``: ``config.json`` + ``.blob`` for RVC2 / ``.dlc`` for
RVC4; ``edgeloop optimize --target myriad`` writes one), builds a DepthAI 3 pipeline with one
``NeuralNetwork`` node fed from the host, sends each prepared tensor to the camera and hands the
raw output tensors back in ``ModelSpec`` order, reshaped from the camera's layout (FP16, possibly
channel-last or flattened) to the archive's shapes; the bundle's family decoder does the rest.

``available()`` is honest: depthai importable *and* at least one OAK camera found (USB or
network). Without a camera the backend is unavailable and its contract test skips.

Untested on hardware: everything after ``dai.Device(...)`` (starting the pipeline, the queues,
what the camera returns) is written against depthai 3's API but has not run on a camera here.
The description of the model, the input conversion and the output conversion run without one.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.backends.depthai_io import input_message, model_spec, outputs_from_nndata, read_archive_config
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec

Platform = Literal["RVC2", "RVC4"]
_NO_DEVICE = (
    "no OAK device found: connect one over USB (or reach a PoE one on this network), "
    "check `lsusb` shows 'Movidius' / 'Luxonis', and inside a container pass "
    "-v /dev/bus/usb:/dev/bus/usb --device-cgroup-rule='c 189:* rmw'"
)
_SEARCH_CACHE_S = 5.0
_last_search: tuple[float, int] = (-math.inf, 0)


def import_depthai() -> Any:
    """The ``depthai`` module (typed ``Any``: its calls are checked on hardware, not by mypy)."""
    return importlib.import_module("depthai")


def device_count() -> int:
    """OAK cameras found now (cached a few seconds: a search takes about half a second)."""
    global _last_search
    when, count = _last_search
    if time.monotonic() - when < _SEARCH_CACHE_S:
        return count
    count = len(import_depthai().Device.getAllAvailableDevices())
    _last_search = (time.monotonic(), count)
    return count


class DepthAiConfig(BackendSettings):
    """Settings for the DepthAI backend."""

    type: Literal["depthai"] = "depthai"
    device: str | None = Field(
        default=None, description="device id (MXID) or IP address of the camera; default: the first found"
    )
    timeout_s: float = Field(default=10.0, gt=0, description="how long to wait for the camera's result")


class DepthAiBackend:
    """Runs NN Archives on an OAK camera (RVC2: Myriad X blobs; RVC4: DLC models)."""

    name = "depthai"
    Config = DepthAiConfig

    def __init__(self, config: DepthAiConfig | None = None) -> None:
        self.config = config or DepthAiConfig()
        self._pipeline: Any = None
        self._device: Any = None
        self._sequence = 0
        self._in: Any = None
        self._out: Any = None
        self._spec: ModelSpec | None = None
        self._inputs: list[dict[str, Any]] = []

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        """depthai is importable and an OAK camera is connected."""
        if importlib.util.find_spec("depthai") is None:
            return False
        return device_count() > 0

    def load(self, model_path: Path) -> ModelSpec:
        model_path = Path(model_path)
        config = read_archive_config(model_path)
        spec = model_spec(config)
        dai = import_depthai()
        info = _find_device(dai, self.config.device)
        try:
            self._device = dai.Device(info)
            platform = _platform_name(self._device.getPlatform())
            self._pipeline, nn = build_pipeline(model_path, platform, self._device)
            self._in = nn.input.createInputQueue()
            self._out = nn.out.createOutputQueue()
            self._pipeline.start()
        except BackendError:
            self.close()
            raise
        except Exception as exc:  # depthai raises RuntimeError with its own message
            self.close()
            raise BackendError(f"DepthAI could not start {model_path.name} on the camera: {exc}") from None
        self._spec = spec
        self._inputs = list(config["model"]["inputs"])
        return spec

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if self._spec is None or self._in is None:
            raise BackendError("depthai backend: call load() before infer()")
        first = self._inputs[0]
        tensor = np.asarray(inputs[first["name"]])
        if tensor.shape[0] != 1:
            raise BackendError(f"depthai runs one image at a time, got a batch of {tensor.shape[0]}")
        message = input_message(import_depthai(), tensor, first)
        self._sequence += 1
        message.setSequenceNum(self._sequence)
        try:
            self._in.send(message)
            result = self._result(time.monotonic() + self.config.timeout_s)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"DepthAI inference failed: {exc}") from None
        return outputs_from_nndata(result, self._spec.outputs)

    def _result(self, deadline: float) -> Any:
        """This call's result: the camera keeps the input's sequence number on its output, and
        a late result of an earlier call that timed out is dropped."""
        while (left := deadline - time.monotonic()) > 0:
            result = self._out.get(timedelta(seconds=left))
            if result is None:
                break
            if result.getSequenceNum() >= self._sequence:
                return result
        raise BackendError(f"the camera returned no result within {self.config.timeout_s:g} s")

    def close(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        device, self._device = self._device, None
        self._in = self._out = self._spec = None
        with contextlib.suppress(Exception):  # stopped already, or the camera went away
            if pipeline is not None:
                pipeline.stop()
        with contextlib.suppress(Exception):
            if device is not None:
                device.close()


def _find_device(dai: Any, wanted: str | None) -> Any:
    devices = dai.Device.getAllAvailableDevices()
    if not devices:
        raise BackendError(_NO_DEVICE)
    if wanted is None:
        return devices[0]
    for info in devices:
        if wanted in (info.getDeviceId(), info.name):
            return info
    have = ", ".join(f"{i.getDeviceId()} ({i.name})" for i in devices)
    raise BackendError(f"OAK device {wanted!r} not found (found: {have}); pass one of them as --device")


def _platform_name(platform: Any) -> Platform:
    name = str(getattr(platform, "name", platform)).rsplit(".", 1)[-1]
    if name not in ("RVC2", "RVC4"):
        raise BackendError(f"OAK platform {name} is not supported (RVC2 and RVC4 are)")
    return name  # type: ignore[return-value]


def build_pipeline(
    model: Path, platform: Platform, device: Any = None, camera: bool = False
) -> tuple[Any, Any]:
    """A DepthAI pipeline with one ``NeuralNetwork`` node running ``model`` on ``device``.

    ``model`` is an NN Archive (``.tar.xz``) or an RVC2 ``.blob``. With ``camera`` the OAK's
    own camera feeds the network (frames of the archive's input size and ``dai_type``);
    otherwise the host sends tensors to ``nn.input``. Returns ``(pipeline, nn)``.

    The model is checked against ``platform`` first (depthai parses archives and blobs on the
    host). depthai creates device nodes only in a pipeline bound to a device: without one this
    raises BackendError (both checked by the tests); the node graph is untested on hardware.

    Raises:
        BackendError: a model not for ``platform``, or no device.
    """
    dai = import_depthai()
    archive = None
    if model.suffix == ".blob":
        if platform != "RVC2":
            raise BackendError(f"{model.name} is a Myriad X blob: it runs on RVC2 cameras, not {platform}")
        if camera:
            raise BackendError("a camera-fed pipeline needs an NN Archive (its input size and frame type)")
    else:
        archive = open_archive(model, platform)
    pipeline = dai.Pipeline(device) if device is not None else dai.Pipeline(False)
    try:
        nn = pipeline.create(dai.node.NeuralNetwork)
    except RuntimeError as exc:
        raise BackendError(f"{_NO_DEVICE} (depthai: {exc})") from None
    if archive is None:
        nn.setBlobPath(model)
    else:
        nn.setNNArchive(archive)
    if camera and archive is not None:
        cam = pipeline.create(dai.node.Camera).build()
        width, height = archive.getInputWidth(), archive.getInputHeight()
        frame_type = getattr(dai.ImgFrame.Type, _archive_frame_type(model))
        cam.requestOutput((width, height), frame_type).link(nn.input)
    return pipeline, nn


def _archive_frame_type(model: Path) -> str:
    first = read_archive_config(model)["model"]["inputs"][0]
    return str(first.get("preprocessing", {}).get("dai_type") or "BGR888p")


def open_archive(model: Path, platform: Platform | None = None) -> Any:
    """``dai.NNArchive`` for ``model`` (parsed by depthai itself; needs no device).

    Raises:
        BackendError: depthai cannot read it, or it is not for ``platform``.
    """
    dai = import_depthai()
    try:
        archive = dai.NNArchive(str(model))
    except RuntimeError as exc:
        raise BackendError(f"depthai cannot read the NN Archive {model.name}: {exc}") from None
    supported = [_platform_name(p) for p in archive.getSupportedPlatforms()]
    if platform is not None and platform not in supported:
        have = ", ".join(supported) or "none (an ONNX archive: convert it for a camera first)"
        raise BackendError(f"{model.name} runs on {have}, not on this {platform} camera")
    return archive
