"""Crafted Caffe files: each gives one clear error line, no traceback, bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.convert.caffe.weights import CaffeWeights
from edgeloop.convert.caffe.wire import bytes_field, float_field, packed_ints, varint
from edgeloop.testing.caffe_models import classifier_net
from edgeloop.testing.caffe_writer import CaffeNet, blob_bytes, layer_bytes
from edgeloop.testing.hostile_imports import run_import


@pytest.fixture(scope="module")
def net() -> CaffeNet:
    return classifier_net(num_classes=5, seed=0, size=64)


def caffemodel_with(net: CaffeNet, layer: str, blobs: list[bytes]) -> bytes:
    """The net's weights, with ``layer``'s blobs replaced by ``blobs``."""
    body = bytes_field(1, net.name)
    for name, arrays in net.weights.items():
        raw = blobs if name == layer else [blob_bytes(a) for a in arrays]
        body += bytes_field(100, layer_bytes(name, net.kinds[name], raw))
    return body


def refused(tmp_path: Path, prototxt: str, weights: bytes, expect: str) -> str:
    (tmp_path / "deploy.prototxt").write_text(prototxt, encoding="utf-8")
    (tmp_path / "model.caffemodel").write_bytes(weights)
    outcome = run_import(
        [
            str(tmp_path / "deploy.prototxt"),
            "--weights",
            str(tmp_path / "model.caffemodel"),
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert outcome.problem() is None, outcome.problem()
    line = outcome.stderr_lines[0]
    assert expect in line, line
    assert not (tmp_path / "b").exists()
    return line


def test_truncated_caffemodel(net: CaffeNet, tmp_path: Path) -> None:
    data = net.caffemodel()
    refused(tmp_path, net.prototxt(), data[: len(data) // 2], "truncated or corrupt")


def test_blob_whose_data_count_is_not_its_shape(net: CaffeNet, tmp_path: Path) -> None:
    w = net.weights["conv1"][0]
    lying = blob_bytes(w.reshape(-1)[:100], shape=w.shape)  # declares 16x3x3x3, holds 100 values
    refused(
        tmp_path, net.prototxt(), caffemodel_with(net, "conv1", [lying]), "holds 100 values but its shape"
    )


def test_blob_whose_shape_is_not_the_prototxts(net: CaffeNet, tmp_path: Path) -> None:
    w = np.zeros((16, 3, 3, 4), np.float32)
    refused(
        tmp_path,
        net.prototxt(),
        caffemodel_with(net, "conv1", [blob_bytes(w)]),
        "the prototxt implies [16, 3, 3, 3]",
    )


def test_blob_count_that_lies(net: CaffeNet, tmp_path: Path) -> None:
    blobs = [blob_bytes(a) for a in net.weights["conv1/bn"]] * 2  # six blobs for BatchNorm
    refused(tmp_path, net.prototxt(), caffemodel_with(net, "conv1/bn", blobs), "has 6 blobs")


def test_length_prefix_past_the_end(net: CaffeNet, tmp_path: Path) -> None:
    data = bytes_field(1, "x") + varint(100 << 3 | 2) + varint(1 << 40) + b"\0" * 64
    refused(tmp_path, net.prototxt(), data, "bytes follow")


def test_gigantic_input_dimension(net: CaffeNet, tmp_path: Path) -> None:
    text = net.prototxt().replace("dim: 64", "dim: 4000000000", 1)
    refused(tmp_path, text, net.caffemodel(), "out of range")


def test_gigantic_layer(net: CaffeNet, tmp_path: Path) -> None:
    text = net.prototxt().replace("num_output: 16", "num_output: 2000000000", 1)
    refused(tmp_path, text, net.caffemodel(), "more than")


def test_deeply_nested_braces(net: CaffeNet, tmp_path: Path) -> None:
    text = "layer { " * 200_000 + "}" * 200_000
    refused(tmp_path, text, net.caffemodel(), "nested deeper than")


def test_garbage_weights(net: CaffeNet, tmp_path: Path) -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    refused(tmp_path, net.prototxt(), garbage, "not a readable .caffemodel")


def test_garbage_prototxt(net: CaffeNet, tmp_path: Path) -> None:
    garbage = np.random.default_rng(1).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    (tmp_path / "deploy.prototxt").write_bytes(garbage)
    (tmp_path / "model.caffemodel").write_bytes(net.caffemodel())
    outcome = run_import(
        [
            str(tmp_path / "deploy.prototxt"),
            "--weights",
            str(tmp_path / "model.caffemodel"),
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert outcome.problem() is None, outcome.problem()
    assert "not a text prototxt" in outcome.stderr_lines[0]


def test_weights_of_another_model(net: CaffeNet, tmp_path: Path) -> None:
    other = classifier_net(num_classes=7, seed=0, size=64)
    refused(tmp_path, net.prototxt(), other.caffemodel(), "layer 'fc' blob 0 declares shape")


def test_millions_of_fields(net: CaffeNet, tmp_path: Path) -> None:
    refused(tmp_path, "a: 1\n" * 3_000_000, net.caffemodel(), "more than 200000 fields")


def test_millions_of_tiny_fields_in_the_weights(net: CaffeNet, tmp_path: Path) -> None:
    refused(tmp_path, net.prototxt(), b"\x08\x00" * 2_000_000, "more than 100000 top-level fields")


def test_a_data_chunk_of_partial_floats(net: CaffeNet, tmp_path: Path) -> None:
    w = net.weights["conv1"][0].reshape(-1)
    shape = bytes_field(7, packed_ints(1, list(net.weights["conv1"][0].shape)))
    odd = shape + bytes_field(5, w[:1].tobytes()[:3]) + bytes_field(5, w[1:].tobytes() + b"\0")
    line = refused(tmp_path, net.prototxt(), caffemodel_with(net, "conv1", [odd]), "a chunk of 3 bytes")
    assert "not whole 32-bit floats" in line


def test_packed_and_unpacked_data_keep_file_order(net: CaffeNet, tmp_path: Path) -> None:
    """Protobuf concatenates a repeated field's chunks in file order, packed or not."""
    w = net.weights["conv1"][0]
    flat = w.reshape(-1)
    mixed = bytes_field(7, packed_ints(1, list(w.shape))) + float_field(5, float(flat[0]))
    mixed += bytes_field(5, flat[1:-1].astype("<f4").tobytes()) + float_field(5, float(flat[-1]))
    path = tmp_path / "model.caffemodel"
    path.write_bytes(caffemodel_with(net, "conv1", [mixed, *map(blob_bytes, net.weights["conv1"][1:])]))
    weights = CaffeWeights(path)
    try:
        got = weights.blobs("conv1", [a.shape for a in net.weights["conv1"]])
    finally:
        weights.close()
    np.testing.assert_array_equal(got[0], w)
