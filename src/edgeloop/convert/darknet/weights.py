"""Darknet ``.weights``: a header, then each convolutional layer's floats in cfg order.

Header: major, minor, revision as int32, then ``seen`` (images trained on): int64 when
``major * 10 + minor >= 2`` (and both are below 1000), int32 otherwise. Then, per
[convolutional] layer: biases [filters], with batch_normalize also scales, rolling means and
rolling variances [filters each], then the kernel [filters, channels / groups, size, size].

The cfg fixes the float count exactly, so the file size is checked before reading, and the
floats are read in one bounded ``numpy.fromfile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.convert.darknet.layers import Network
from edgeloop.errors import ModelImportError

FloatArray = npt.NDArray[np.float32]
BN_EPS = 1e-6  # Darknet's normalize_cpu adds .000001 to the variance


@dataclass(frozen=True)
class ConvWeights:
    """One convolutional layer's parameters, with batch norm folded in (as Darknet does at inference)."""

    kernel: FloatArray  # [filters, channels / groups, size, size]
    bias: FloatArray  # [filters]


def header_size(path: Path) -> tuple[int, tuple[int, int, int]]:
    """The header's size in bytes and the (major, minor, revision) version.

    Raises:
        ModelImportError: the file is shorter than a header.
    """
    with path.open("rb") as f:
        head = f.read(12)
    if len(head) < 12:
        raise ModelImportError(f"{path}: {len(head)} bytes is too short for a Darknet .weights file")
    major, minor, revision = (int(v) for v in np.frombuffer(head, dtype="<i4"))
    wide = (major * 10 + minor) >= 2 and major < 1000 and minor < 1000
    return (20 if wide else 16), (major, minor, revision)


def read_weights(path: Path, network: Network) -> dict[int, ConvWeights]:
    """Each convolutional layer's weights (by layer index), BN folded in.

    Raises:
        ModelImportError: the file holds more or fewer floats than the cfg needs (names both counts).
    """
    expected = network.param_count()
    offset, version = header_size(path)
    size = path.stat().st_size
    have = (size - offset) / 4
    if size != offset + 4 * expected:
        what = "truncated" if have < expected else "longer than the cfg needs"
        raise ModelImportError(
            f"{path}: the weights do not fit the cfg ({what}): the cfg needs {expected} floats, "
            "the file holds "
            f"{have:.0f} after its {offset}-byte header (version {'.'.join(map(str, version))}); "
            "are the .cfg and .weights from the same model?"
        )
    data = np.fromfile(path, dtype="<f4", count=expected, offset=offset)
    if data.size != expected:
        raise ModelImportError(f"{path}: read {data.size} floats, expected {expected}")
    if not np.isfinite(data).all():
        raise ModelImportError(f"{path}: the weights hold NaN or infinite values")
    out: dict[int, ConvWeights] = {}
    pos = 0
    for layer in network.layers:
        if layer.kind != "convolutional":
            continue
        n = layer.filters
        in_c = network.shape_of(layer.inputs[0])[0]
        bias = data[pos : pos + n]
        pos += n
        scales: Any = None
        if layer.batch_normalize:
            scales, mean, var = (
                data[pos : pos + n],
                data[pos + n : pos + 2 * n],
                data[pos + 2 * n : pos + 3 * n],
            )
            pos += 3 * n
            if (var < 0).any():
                raise ModelImportError(f"{path}: layer {layer.index} has a negative batch-norm variance")
        count = n * (in_c // layer.groups) * layer.size * layer.size
        kernel = data[pos : pos + count].reshape(n, in_c // layer.groups, layer.size, layer.size)
        pos += count
        if scales is not None:
            factor = scales / np.sqrt(var + np.float32(BN_EPS))
            kernel = kernel * factor[:, None, None, None]
            bias = bias - mean * factor
        out[layer.index] = ConvWeights(np.ascontiguousarray(kernel, np.float32), np.asarray(bias, np.float32))
    return out
