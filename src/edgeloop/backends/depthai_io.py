"""DepthAI host side: NN Archive descriptions, and tensors to and from the camera's messages.

Everything here runs without a camera: ``depthai`` message objects (``ImgFrame``, ``NNData``)
are made and read on the host.
"""

from __future__ import annotations

import json
import math
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.backends.base import Tensor
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec


def read_archive_config(path: Path) -> dict[str, Any]:
    """``config.json`` of an NN Archive (``.tar.xz``, ``.tar.gz`` or ``.tar``).

    Raises:
        BackendError: not a tar archive, or no readable ``config.json`` in it.
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.getmember("config.json")
            handle = tar.extractfile(member) if member.size <= 16 * 1024 * 1024 else None
            if handle is None:
                raise BackendError(f"{path.name}: config.json is not a small regular file")
            data: dict[str, Any] = json.loads(handle.read())
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise BackendError(
            f"the depthai backend loads Luxonis NN Archives (.tar.xz with a config.json); {path.name}: {exc}"
        ) from None
    return data


def model_spec(config: Mapping[str, Any]) -> ModelSpec:
    """The model's inputs and outputs as an NN Archive ``config.json`` describes them.

    Inputs keep the archive's shape; their dtype is float32 (the host sends edgeloop's prepared
    tensor, which ``input_message`` turns into pixels for compiled models). Outputs are float32:
    FP16 results are widened on the host.

    Raises:
        BackendError: an output without a shape (edgeloop's decoders need one).
    """
    model = config["model"]
    inputs = tuple(TensorSpec(i["name"], tuple(i["shape"]), "float32") for i in model["inputs"])
    outputs = []
    for out in model["outputs"]:
        if not out.get("shape"):
            raise BackendError(f"NN Archive output {out['name']!r} has no shape; add it to config.json")
        outputs.append(TensorSpec(out["name"], tuple(out["shape"]), "float32"))
    meta = {
        "nn_archive.name": str(model["metadata"]["name"]),
        "nn_archive.path": str(model["metadata"]["path"]),
    }
    return ModelSpec(inputs=inputs, outputs=tuple(outputs), metadata=meta)


def to_pixels(tensor: Tensor, input_config: Mapping[str, Any]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Undo edgeloop's normalization: the 0-255 pixels a compiled (uint8-input) model takes.

    ``pixel = tensor * scale + mean`` per channel (the archive's preprocessing block), rounded.
    A uint8 tensor (a bundle whose model takes pixels) is already pixels.
    """
    if tensor.dtype == np.uint8:
        return np.asarray(tensor, np.uint8)
    pre = input_config.get("preprocessing") or {}
    mean = np.asarray(pre.get("mean") or [0.0, 0.0, 0.0], np.float32)
    scale = np.asarray(pre.get("scale") or [1.0, 1.0, 1.0], np.float32)
    axis = 1 if str(input_config.get("layout", "NCHW")).upper() == "NCHW" else -1
    shape = [1] * tensor.ndim
    shape[axis] = mean.size
    pixels = tensor.astype(np.float32) * scale.reshape(shape) + mean.reshape(shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def input_message(dai: Any, tensor: Tensor, input_config: Mapping[str, Any]) -> Any:
    """What the host sends to ``nn.input``: an ``ImgFrame`` of pixels for a compiled image input
    (``dtype`` uint8, the frame type from ``preprocessing.dai_type``), else ``NNData`` in FP16."""
    if input_config.get("dtype") == "uint8":
        pixels = to_pixels(tensor, input_config)[0]  # drop the batch axis
        layout = str(input_config.get("layout", "NCHW")).upper()
        h, w = pixels.shape[1:3] if layout == "NCHW" else pixels.shape[0:2]
        frame = dai.ImgFrame()
        frame_type = (input_config.get("preprocessing") or {}).get("dai_type") or "BGR888p"
        frame.setType(getattr(dai.ImgFrame.Type, frame_type))
        frame.setWidth(int(w))
        frame.setHeight(int(h))
        frame.setData(np.ascontiguousarray(pixels).reshape(-1))
        return frame
    data = dai.NNData()
    data.addTensor(
        str(input_config["name"]), np.ascontiguousarray(tensor, np.float16), dai.TensorInfo.DataType.FP16
    )
    return data


def fit_output(
    array: np.ndarray[Any, Any], order: str, spec: TensorSpec
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """One output as the camera returned it -> the archive's shape, float32.

    The camera reports FP16 tensors in its storage ``order`` (e.g. ``NHWC`` on RVC2 for 4-D
    outputs) or flat; a channel-last tensor is moved back to channel-first, anything else of
    the right size is reshaped.

    Raises:
        BackendError: the sizes differ (the archive does not describe this model).
    """
    want = tuple(int(d) if isinstance(d, int) else 1 for d in spec.shape)
    array = np.asarray(array, np.float32)
    if array.shape == want:
        return array
    if array.size != math.prod(want):
        raise BackendError(
            f"the camera returned {array.shape} for output {spec.name!r}, the NN Archive says {want}: "
            "the archive's config.json does not match its model"
        )
    channel_last = order.upper() in ("NHWC", "HWC")
    if channel_last and len(want) >= 3:
        moved = (*want[:1], *want[2:], want[1])
        if array.shape == moved:
            return np.ascontiguousarray(np.moveaxis(array, -1, 1))
        if array.shape == moved[1:]:
            return np.ascontiguousarray(np.moveaxis(array, -1, 0)).reshape(want)
    return array.reshape(want)


def outputs_from_nndata(message: Any, specs: tuple[TensorSpec, ...]) -> list[Tensor]:
    """The model's outputs from a ``dai.NNData`` message, in ``specs`` order.

    Raises:
        BackendError: an output missing from the message.
    """
    names = list(message.getAllLayerNames())
    outputs: list[Tensor] = []
    for spec in specs:
        name = spec.name if spec.name in names else None
        if name is None and len(specs) == 1 and len(names) == 1:
            name = names[0]  # a compiler that renamed the only output
        if name is None:
            raise BackendError(f"the camera's result has no output {spec.name!r} (it has {', '.join(names)})")
        order = str(message.getTensorInfo(name).order).rsplit(".", 1)[-1]
        outputs.append(fit_output(np.asarray(message.getTensor(name, dequantize=True)), order, spec))
    return outputs
