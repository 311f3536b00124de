"""The ``.caffemodel`` reader: a NetParameter's layers, their blobs, checked against the prototxt.

The file is memory-mapped and walked with the bounded wire reader; a layer's blobs are
read only when the converter asks for them with the shapes the prototxt implies, so a
blob whose declared shape or length lies is refused before anything is allocated.
Field numbers are those of the published ``caffe.proto``.
"""

from __future__ import annotations

import math
import mmap
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeloop.convert.caffe.wire import LENGTH, WireError, fields, packed_varints

NET_LAYER, NET_LAYERS_V1 = 100, 2
LAYER_NAME, LAYER_BLOBS = 1, 7
V1_NAME, V1_BLOBS = 4, 6
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE_DATA = 5, 7, 8
SHAPE_DIM = 1
MAX_BLOB_DIMS = 8
MAX_FIELDS = 100_000
"""Fields of the file, or of one layer, beyond this are refused (a real model has hundreds)."""


class WeightsError(ValueError):
    """The weights file is malformed or does not fit the network description."""


class CaffeWeights:
    """Layer name -> the raw bytes of its blobs, from a memory-mapped ``.caffemodel``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        size = path.stat().st_size
        if size == 0:
            self._file.close()
            raise WeightsError(f"{path.name} is empty")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)
        self.layers: dict[str, list[memoryview]] = {}
        try:
            self._index()
        except WireError as exc:
            self.close()
            raise WeightsError(f"{path.name} is not a readable .caffemodel: {exc}") from None

    def _index(self) -> None:
        for count, top in enumerate(fields(self._view)):
            if count > MAX_FIELDS:
                raise WireError(f"more than {MAX_FIELDS} top-level fields: not a Caffe model")
            if top.wire != LENGTH or top.number not in (NET_LAYER, NET_LAYERS_V1):
                continue
            assert isinstance(top.value, memoryview)
            name_field, blob_field = (
                (LAYER_NAME, LAYER_BLOBS) if top.number == NET_LAYER else (V1_NAME, V1_BLOBS)
            )
            name, blobs = "", []
            for inner, f in enumerate(fields(top.value)):
                if inner > MAX_FIELDS:
                    raise WireError(f"a layer with more than {MAX_FIELDS} fields: not a Caffe model")
                if f.number == name_field and isinstance(f.value, memoryview):
                    name = bytes(f.value[:1024]).decode("utf-8", "replace")
                elif f.number == blob_field and isinstance(f.value, memoryview):
                    blobs.append(f.value)
            if blobs:
                self.layers[name] = blobs

    def blobs(
        self, layer: str, expected: list[tuple[int, ...]], optional: int = 0
    ) -> list[npt.NDArray[np.float32]]:
        """The blobs of ``layer`` with exactly the ``expected`` shapes (the last ``optional`` may be absent).

        Raises:
            WeightsError: the layer has no blobs, too few or too many, or one whose shape or data lie.
        """
        raw = self.layers.get(layer)
        if raw is None:
            raise WeightsError(f"{self.path.name} has no weights for layer '{layer}' (a different model?)")
        if not len(expected) - optional <= len(raw) <= len(expected):
            raise WeightsError(
                f"layer '{layer}' has {len(raw)} blobs in {self.path.name}; "
                f"the prototxt implies {len(expected)}"
            )
        try:
            return [
                _blob(layer, i, view, shape)
                for i, (view, shape) in enumerate(zip(raw, expected, strict=False))
            ]
        except WireError as exc:
            raise WeightsError(f"{self.path.name}: layer '{layer}': {exc}") from None
        except WeightsError as exc:
            raise WeightsError(f"{self.path.name}: {exc}") from None

    def close(self) -> None:
        self.layers.clear()
        try:
            self._view.release()
            self._map.close()
        except BufferError:  # a slice is still referenced somewhere: the map closes when it goes
            pass
        self._file.close()


def _blob(layer: str, index: int, view: memoryview, expected: tuple[int, ...]) -> npt.NDArray[np.float32]:
    want = math.prod(expected)
    shape: list[int] | None = None
    legacy = [1, 1, 1, 1]
    data: list[memoryview] = []  # packed and unpacked chunks, in file order
    doubles: list[memoryview] = []
    for f in fields(view):
        if f.number == BLOB_SHAPE and isinstance(f.value, memoryview):
            shape = []
            for d in fields(f.value):
                if d.number != SHAPE_DIM:
                    continue
                shape.extend(
                    packed_varints(d.value, MAX_BLOB_DIMS) if isinstance(d.value, memoryview) else [d.value]
                )
                if len(shape) > MAX_BLOB_DIMS:
                    raise WireError(f"blob {index} has more than {MAX_BLOB_DIMS} dimensions")
        elif f.number in (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH) and isinstance(f.value, int):
            legacy[f.number - 1] = f.value
        elif f.number in (BLOB_DATA, BLOB_DOUBLE_DATA) and isinstance(f.value, memoryview):
            item = 4 if f.number == BLOB_DATA else 8
            chunks = data if f.number == BLOB_DATA else doubles
            if len(f.value) % item:
                raise WeightsError(
                    f"layer '{layer}' blob {index} has a chunk of {len(f.value)} bytes, not whole "
                    f"{8 * item}-bit floats (the file is damaged or crafted)"
                )
            chunks.append(f.value)
            if len(chunks) > want:
                raise WeightsError(
                    f"layer '{layer}' blob {index} holds more than the {want} values it should"
                )
    declared = shape if shape is not None else legacy
    if any(d >= 1 << 40 for d in declared) or math.prod(declared) != want:
        raise WeightsError(
            f"layer '{layer}' blob {index} declares shape {declared}; the prototxt implies {list(expected)}"
        )
    if data:
        size = sum(len(v) for v in data)
        if size != 4 * want:
            raise WeightsError(
                f"layer '{layer}' blob {index} holds {size // 4} values but its shape {declared} "
                f"needs {want} "
                "(the file lies about its length, or is truncated)"
            )
        parts = [np.frombuffer(v, "<f4") for v in data]
        array = parts[0] if len(parts) == 1 else np.concatenate(parts)
    elif doubles:
        size = sum(len(v) for v in doubles)
        if size != 8 * want:
            raise WeightsError(
                f"layer '{layer}' blob {index} holds {size // 8} values; its shape needs {want}"
            )
        array = np.concatenate([np.frombuffer(v, "<f8") for v in doubles])
    else:
        raise WeightsError(f"layer '{layer}' blob {index} has no data")
    return np.array(array, dtype=np.float32).reshape(expected)
