"""Predictor: the one inference path every edgeloop feature goes through.

image bytes / path / ndarray -> imaging.decode -> preprocess -> Backend.infer
-> decoder[family] (+ NMS) -> Detections or Classification, in original pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeloop.backends import Backend, BackendConfig, Capabilities, OnnxRuntimeConfig, create_backend
from edgeloop.backends.base import BackendSettings
from edgeloop.bundle import Bundle, Manifest, Variant, load_bundle
from edgeloop.errors import BundleError, ImageError
from edgeloop.imaging import (
    DEFAULT_MAX_PIXELS,
    ImageArray,
    decode_image,
    oriented_size,
    read_header,
    read_image,
    read_image_bytes,
)
from edgeloop.postprocess import DecodeOptions
from edgeloop.postprocess.families import get_family, require_decoder
from edgeloop.preprocess import InputSpec, Transform, jpeg_reduction, preprocess
from edgeloop.types import Classification, Detections, ModelSpec

Result = Detections | Classification
ImageInput = ImageArray | bytes | str | Path


@dataclass(frozen=True)
class Prepared:
    """A preprocessed image: the model input and the way back to image pixels."""

    tensor: npt.NDArray[np.generic]
    transform: Transform


@dataclass(frozen=True)
class Timing:
    """Seconds spent in each stage of one prediction."""

    decode_s: float
    preprocess_s: float
    infer_s: float
    postprocess_s: float

    @property
    def total_s(self) -> float:
        return self.decode_s + self.preprocess_s + self.infer_s + self.postprocess_s


class Predictor:
    """Runs a bundle's model on images.

    Args:
        bundle: a loaded ``Bundle`` or a path to a bundle folder or ``.tar``.
        backend: the backend's settings (``OnnxRuntimeConfig()``, ``OpenVinoConfig(threads=2)``,
            or ``parse_backend_config(...)`` from YAML/JSON), or a ready ``Backend`` instance.
            Default: ONNX Runtime on the CPU.
        precision: which variant to run (default: the bundle's default variant).
        max_pixels: images declaring more pixels are refused before decoding.
        fast_decode: decode JPEGs much larger than the model input at 1/2, 1/4
            or 1/8 size in the DCT domain (faster; pixels differ slightly from a
            full decode followed by a resize, so results can differ slightly
            from other tools').
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: BackendConfig | Backend | None = None,
        precision: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        fast_decode: bool = False,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        manifest = self.bundle.manifest
        if backend is None:
            backend = OnnxRuntimeConfig()
        if isinstance(backend, str):
            raise TypeError(
                f"Predictor(backend={backend!r}): pass settings, e.g. "
                f"parse_backend_config({backend!r}) or OnnxRuntimeConfig()"
            )
        created = isinstance(backend, BackendSettings)
        self.backend: Backend = create_backend(backend) if isinstance(backend, BackendSettings) else backend
        try:
            self.variant = _variant_for(manifest, precision, self.backend)
            _check_backend_reads(self.variant.file, self.variant.backends, self.backend.name, manifest.name)
            self.model_spec: ModelSpec = self.backend.load(self.bundle.path(self.variant.file))
            self.input_name = self.model_spec.inputs[0].name
            self.input_spec: InputSpec = manifest.input
            self._decode = get_family(manifest.family).decode  # None: a raw bundle, run with infer() only
            if self._decode is not None:  # a raw model's input need not be an image
                self._check_input_shape()
        except BaseException:
            if created:  # a backend the caller passed in stays the caller's to close
                self.backend.close()
            raise
        self.defaults = DecodeOptions(
            conf=manifest.conf,
            iou=manifest.iou,
            max_det=manifest.max_det,
            names=tuple(manifest.names),
            head=manifest.head,
        )
        self.max_pixels = max_pixels
        self.fast_decode = fast_decode

    def _check_input_shape(self) -> None:
        shape = self.model_spec.inputs[0].shape
        if len(shape) != 4:
            raise BundleError(f"model input '{self.input_name}' has shape {shape}; expected 4 dimensions")
        hw = shape[2:4] if self.input_spec.layout == "NCHW" else shape[1:3]
        want = self.input_spec.size_hw
        if all(isinstance(d, int) for d in hw) and tuple(hw) != tuple(want):
            raise BundleError(
                f"bundle.json input.size_hw {list(want)} does not match the model's input "
                f"{list(hw)}; fix input.size_hw (or re-import with --imgsz {hw[1]},{hw[0]})"
            )

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do (thread safety, preferred workers, dynamic shapes)."""
        return self.backend.capabilities()

    @property
    def names(self) -> tuple[str, ...]:
        return self.defaults.names

    @property
    def task(self) -> str:
        return self.bundle.manifest.task

    def options(
        self,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        classes: list[int] | None = None,
        agnostic: bool | None = None,
    ) -> DecodeOptions:
        """The bundle's default decode options with the given values replaced."""
        d = self.defaults
        return DecodeOptions(
            conf=d.conf if conf is None else conf,
            iou=d.iou if iou is None else iou,
            max_det=d.max_det if max_det is None else max_det,
            agnostic=d.agnostic if agnostic is None else agnostic,
            classes=tuple(classes) if classes is not None else d.classes,
            names=d.names,
            head=d.head,
        )

    def load_image(self, image: ImageInput) -> ImageArray:
        """Decode ``image`` (bytes, path or array) to HxWx3 uint8 BGR."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            return decode_image(bytes(image), self.max_pixels)
        if isinstance(image, (str, Path)):
            return read_image(image, self.max_pixels)
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise ImageError(f"image array must be uint8, got {array.dtype}")
        if array.ndim == 2:
            return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ImageError(f"image array must be HxWx3 BGR, got shape {array.shape}")
        if array.shape[2] == 4:
            return np.ascontiguousarray(array[:, :, :3])
        return array

    def _load(self, image: ImageInput) -> tuple[ImageArray, tuple[int, int]]:
        """The decoded image and the (width, height) that results are reported in."""
        if self.fast_decode and isinstance(image, (bytes, bytearray, memoryview, str, Path)):
            data = bytes(image) if not isinstance(image, (str, Path)) else read_image_bytes(image)
            try:
                header = read_header(data)
                size_wh = oriented_size(header)
                reduce = jpeg_reduction(size_wh, self.input_spec) if header.format == "jpeg" else 1
                return decode_image(data, self.max_pixels, reduce), size_wh
            except ImageError as exc:
                if isinstance(image, (str, Path)):
                    raise type(exc)(f"{image}: {exc}") from None
                raise
        array = self.load_image(image)
        return array, (array.shape[1], array.shape[0])

    def predict(self, image: ImageInput, options: DecodeOptions | None = None) -> Result:
        """Run the model on one image (bytes, path, or HxWx3 BGR uint8 array)."""
        return self.predict_timed(image, options)[0]

    def predict_timed(self, image: ImageInput, options: DecodeOptions | None = None) -> tuple[Result, Timing]:
        """``predict`` plus the seconds spent in each stage."""
        t0 = time.perf_counter()
        array, size_wh = self._load(image)
        t1 = time.perf_counter()
        prepared = self.prepare(array, size_wh)
        t2 = time.perf_counter()
        outputs = self.infer(prepared.tensor)
        t3 = time.perf_counter()
        result = self.finish(outputs, prepared, options)
        t4 = time.perf_counter()
        return result, Timing(t1 - t0, t2 - t1, t3 - t2, t4 - t3)

    # The stages, for callers that schedule them separately (the server runs
    # decode and pre/post-processing on request threads and batches inference).

    def decode(self, image: ImageInput) -> tuple[ImageArray, tuple[int, int]]:
        """Decode ``image``; returns the array and the (width, height) results are reported in."""
        return self._load(image)

    def prepare(self, array: ImageArray, size_wh: tuple[int, int] | None = None) -> Prepared:
        """Preprocess a decoded image into a (1, ...) input tensor."""
        tensor, transform = preprocess(array, self.input_spec)
        if size_wh is not None and size_wh != transform.original_wh:  # decoded at reduced size
            transform = transform.for_original(size_wh)
        return Prepared(tensor, transform)

    def infer(self, tensor: npt.NDArray[np.generic]) -> list[npt.NDArray[np.generic]]:
        """Run the backend on a (N, ...) input tensor; outputs keep the batch axis."""
        return self.backend.infer({self.input_name: tensor})

    def finish(
        self,
        outputs: list[npt.NDArray[np.generic]],
        prepared: Prepared,
        options: DecodeOptions | None = None,
        index: int = 0,
    ) -> Result:
        """Decode image ``index`` of a batch's raw outputs into results."""
        decode = self._decode or require_decoder(self.bundle.manifest.family, self.bundle.manifest.name)
        return decode([o[index] for o in outputs], prepared.transform, options or self.defaults)

    @property
    def has_decoder(self) -> bool:
        """Whether results come out (False for a ``raw`` bundle: tensors only, via ``infer``)."""
        return self._decode is not None

    @property
    def batchable(self) -> bool:
        """Whether the model takes more than one image per call (dynamic batch axis)."""
        return not isinstance(self.model_spec.inputs[0].shape[0], int)

    def close(self) -> None:
        """Release the backend. Safe to call more than once."""
        self.backend.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _variant_for(manifest: Manifest, precision: str | None, backend: Backend) -> Variant:
    """The variant ``backend`` runs. OpenVINO on ``MYRIAD`` (an NCS2: OpenVINO 2022.3, the last
    release with that plugin) gets the ONNX model, never an IR variant: an IR made by a newer
    OpenVINO may use operator versions 2022.3 cannot read."""
    if backend.name == "openvino" and getattr(getattr(backend, "config", None), "device", None) == "MYRIAD":
        return manifest.onnx_variant(precision)
    return manifest.variant(precision, backend.name)


def _check_backend_reads(file: str, backends: list[str], backend: str, bundle: str) -> None:
    """Refuse to hand a non-ONNX variant (``.tflite``, ncnn, blobs) to a backend it is not made for,
    with the flag that picks the right one, instead of the runtime's own parse error."""
    if file.endswith(".onnx") or not backends or backend in (*backends, "null"):
        return
    raise BundleError(
        f"bundle '{bundle}': its {file} runs on {' or '.join(backends)}, not {backend}: "
        f"pass --backend {backends[0]}"
    )
