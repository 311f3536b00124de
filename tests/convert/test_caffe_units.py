"""The pieces of the Caffe import on their own: the text-format parser, legacy V1 files,
the ONNX the converter writes, and the ssd decoder's geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.convert.caffe.text import TextFormatError, parse
from edgeloop.convert.caffe.wire import bytes_field
from edgeloop.errors import ConfigError
from edgeloop.postprocess.families.ssd import decode, parse_head
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import stretch_geometry
from edgeloop.testing.caffe_models import classifier_net, mobilenet_ssd
from edgeloop.testing.caffe_writer import Enum, blob_bytes

TEXT = """
name: "net"  # a comment
input: 'data'
layer {
  name: "a\\"b"
  type: "Convolution"
  convolution_param { num_output: 8 kernel_size: 3 pad: [1, 1] bias_term: false eps: 1e-5 scale: -0.5f }
}
layer < name: "c" pool: MAX >
"""


def test_text_format_parser() -> None:
    root = parse(TEXT)
    assert root.text("name", "") == "net" and root.text("input", "") == "data"
    first, second = root.messages("layer")
    assert first.text("name", "") == 'a"b'
    conv = first.message("convolution_param")
    assert conv.integer("num_output", 0) == 8 and conv.numbers("pad") == [1.0, 1.0]
    assert conv.flag("bias_term", True) is False
    assert conv.number("eps", 0) == pytest.approx(1e-5) and conv.number("scale", 0) == -0.5
    assert second.text("pool", "") == "MAX"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layer {", "a '}' is missing"),
        ("layer { } }", "line 1: unexpected '}'"),
        ("a: 1\nb: @", "line 2: unexpected text"),
        ("a 1", "expected ':' or '{'"),
        ("a { " * 40 + "}" * 40, "nested deeper than"),
        ('a: "unterminated', "unexpected text"),
    ],
)
def test_text_format_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse(text)


def _v1(net_text: str) -> str:
    """The same network in the legacy V1 text format (``layers``, enum types)."""
    names = {"Convolution": "CONVOLUTION", "ReLU": "RELU", "Pooling": "POOLING", "Dropout": "DROPOUT"}
    names |= {"InnerProduct": "INNER_PRODUCT", "Softmax": "SOFTMAX"}
    text = net_text.replace("layer {", "layers {")
    for new, old in names.items():
        text = text.replace(f'type: "{new}"', f"type: {old}")
    return text


def test_legacy_v1_files(tmp_path: Path) -> None:
    """V1 ``layers`` in the prototxt and the caffemodel (name field 4, blobs field 6)."""
    net = classifier_net(seed=5)  # BatchNorm and Scale keep their string types, as converted V1 files do
    body = bytes_field(1, net.name)
    for name, arrays in net.weights.items():
        layer = bytes_field(4, name) + b"".join(bytes_field(6, blob_bytes(a)) for a in arrays)
        body += bytes_field(2, layer)
    (tmp_path / "v1.prototxt").write_text(_v1(net.prototxt()), encoding="utf-8")
    (tmp_path / "v1.caffemodel").write_bytes(body)
    current = net.write(tmp_path / "current", "net")
    a = convert_model(
        tmp_path / "v1.prototxt", tmp_path / "a", ConvertOptions(weights=tmp_path / "v1.caffemodel")
    )
    b = convert_model(current[0], tmp_path / "b", ConvertOptions(weights=current[1]))
    assert (a.path(a.manifest.variants[0].file)).read_bytes() == (
        b.path(b.manifest.variants[0].file)
    ).read_bytes()


def test_written_onnx_passes_the_onnx_checker(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    prototxt, weights = mobilenet_ssd(tmp_path / "m", width=0.25)
    bundle = convert_model(prototxt, tmp_path / "b", ConvertOptions(weights=weights, check=False))
    model = onnx.load(str(bundle.path(bundle.manifest.variants[0].file)))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["mbox_loc", "mbox_conf_flatten"]


HEAD = {
    "num_classes": 3,
    "background_label_id": 0,
    "nms_threshold": 0.45,
    "nms_top_k": 10,
    "keep_top_k": 10,
    "confidence_threshold": 0.2,
    "code_type": "CENTER_SIZE",
    "input_hw": [100, 100],
    "priors": [
        {
            "feature_hw": [1, 2],
            "image_hw": [100, 100],
            "step_hw": [100.0, 50.0],
            "min_sizes": [50.0],
            "variance": [0.1, 0.1, 0.2, 0.2],
        }
    ],
}


def test_priors_follow_caffe_geometry() -> None:
    _, priors, variances = parse_head(HEAD)
    np.testing.assert_allclose(priors, [[0.0, 0.25, 0.5, 0.75], [0.5, 0.25, 1.0, 0.75]], atol=1e-6)
    assert variances.shape == (2, 4)


def test_ssd_decode_drops_background_and_maps_to_original_pixels() -> None:
    loc = np.zeros(8, np.float32)
    loc[4:8] = [1.0, 0.0, np.log(2) / 0.2, 0.0]  # second prior: shifted by 0.1 * width, twice as wide
    conf = np.asarray([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]], np.float32).reshape(-1)
    _, _, transform = stretch_geometry((400, 200), (100, 100))  # a 200x400 (w x h) original
    det = decode([loc, conf], transform, DecodeOptions(conf=0.2, iou=0.45, head=HEAD, names=("a", "b")))
    assert det.class_id.tolist() == [1]  # label 2 -> class 1; label 1 at 0.2 is not above the threshold
    np.testing.assert_allclose(det.xyxy, [[0.0, 100.0, 100.0, 300.0]], atol=1e-4)
    np.testing.assert_allclose(det.confidence, [0.7], atol=1e-6)
    conf2 = np.asarray([[0.1, 0.2, 0.7], [0.1, 0.1, 0.8]], np.float32).reshape(-1)
    det2 = decode([loc, conf2], transform, DecodeOptions(conf=0.2, iou=0.45, head=HEAD))
    assert det2.class_id.tolist() == [1, 1] and det2.confidence.tolist() == pytest.approx([0.8, 0.7])
    # centre 0.75 + 0.1 * 1 * 0.5, width 0.5 * 2: x 0.3..1.3 of 100 px, then x2 to the original, clipped
    np.testing.assert_allclose(det2.xyxy[0], [60.0, 100.0, 200.0, 300.0], atol=1e-3)


def test_ssd_head_missing_or_invalid() -> None:
    with pytest.raises(ConfigError, match="needs 'head' parameters"):
        parse_head(None)
    with pytest.raises(ConfigError, match="num_classes"):
        parse_head({**HEAD, "num_classes": 1})


def test_ssd_head_with_max_sizes_not_one_per_min_size() -> None:
    """A hand-edited bundle.json: a ConfigError naming the fix, not an IndexError while decoding."""
    prior = {**HEAD["priors"][0], "min_sizes": [20.0, 50.0], "max_sizes": [60.0]}  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="priors.0: .*1 max_sizes for 2 min_sizes: give one max_size per"):
        parse_head({**HEAD, "priors": [prior]})
    parse_head({**HEAD, "priors": [{**prior, "max_sizes": [40.0, 80.0]}]})


def test_mean_and_scale_override_caffe_style(tmp_path: Path) -> None:
    """--mean 104,117,123 --scale 1: (pixel - mean) * scale, per BGR channel."""
    from edgeloop.convert.base import parse_mean

    prototxt, weights = classifier_net().write(tmp_path / "m", "net")
    options = ConvertOptions(weights=weights, mean=parse_mean("104,117,123"), scale=1.0, check=False)
    spec = convert_model(prototxt, tmp_path / "b", options).manifest.input
    assert spec.scale == 1.0 and spec.mean == (104.0, 117.0, 123.0) and spec.color == "BGR"
    default = convert_model(
        prototxt, tmp_path / "c", ConvertOptions(weights=weights, check=False)
    ).manifest.input
    assert default.scale == pytest.approx(0.007843) and default.mean == pytest.approx((127.5 * 0.007843,) * 3)
    assert parse_mean("127.5") == (127.5, 127.5, 127.5)


def test_ssd_head_with_absurd_prior_count_is_refused() -> None:
    prior = {**HEAD["priors"][0], "feature_hw": [100_000, 100_000]}  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="prior boxes"):
        parse_head({**HEAD, "priors": [prior]})


def test_training_prototxt_is_refused_with_a_hint(tmp_path: Path) -> None:
    from edgeloop.errors import ModelImportError

    net = classifier_net()
    net.add("loss", "SoftmaxWithLoss", ["fc", "label"], ["loss"])
    prototxt, weights = net.write(tmp_path, "train")
    with pytest.raises(ModelImportError, match="import the network's deploy.prototxt"):
        convert_model(prototxt, tmp_path / "b", ConvertOptions(weights=weights))


def test_convolutional_classifier_output_becomes_2d(tmp_path: Path) -> None:
    """A (1, C, 1, 1) softmax after global pooling is flattened so the classify family decodes it."""
    net = classifier_net()
    net.layers = [f for f in net.layers if str(f[0][1]) not in ("fc", "prob")]
    net.conv("head", "pool2", 32, 5, 1, pad=0, bias=True)
    gap = [("pool", Enum("AVE")), ("global_pooling", True)]
    net.add("gap", "Pooling", ["head"], ["gap"], ("pooling_param", gap))
    net.add("prob", "Softmax", ["gap"], ["prob"])
    del net.weights["fc"]
    prototxt, weights = net.write(tmp_path, "conv_classifier")
    bundle = convert_model(prototxt, tmp_path / "b", ConvertOptions(weights=weights, check=False))
    assert bundle.manifest.family == "classify" and len(bundle.manifest.names) == 5
