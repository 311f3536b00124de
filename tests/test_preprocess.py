import numpy as np
import pytest
from pydantic import ValidationError

from edgeloop.preprocess import InputSpec, Transform, letterbox, preprocess


def image(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "hw,gain,pad",
    [
        ((480, 640), 1.0, (0, 80)),
        ((640, 480), 1.0, (80, 0)),
        ((720, 1280), 0.5, (0, 140)),
        ((500, 500), 1.28, (0, 0)),
        ((333, 777), 640 / 777, (0, 183)),
    ],
)
def test_letterbox_geometry(hw: tuple[int, int], gain: float, pad: tuple[int, int]) -> None:
    out, t = letterbox(image(*hw), (640, 640))
    assert out.shape == (640, 640, 3)
    assert t.gain_xy[0] == pytest.approx(gain)
    assert t.pad_xy == pad
    assert t.original_wh == (hw[1], hw[0])
    px, py = pad
    if py:  # padding rows are the pad value
        assert (out[: py - 1] == 114).all() and (out[-(py - 1) :] == 114).all()
    if px:
        assert (out[:, : px - 1] == 114).all()


@pytest.mark.parametrize("hw", [(1, 5000), (5000, 1), (2, 3000)])
def test_letterbox_of_a_sliver_keeps_one_pixel(hw: tuple[int, int]) -> None:
    """Rounding the short side to 0 pixels made the resize fail (a 500 from the server)."""
    out, t = letterbox(image(*hw), (640, 640))
    assert out.shape == (640, 640, 3)
    boxes = t.boxes_to_original(np.array([[0, 0, 640, 640]], np.float32))
    assert boxes[0].tolist() == [0, 0, hw[1], hw[0]]


def test_letterbox_identity_when_sizes_match() -> None:
    im = image(320, 320)
    out, t = letterbox(im, (320, 320))
    assert np.array_equal(out, im) and t.pad_xy == (0, 0)


def test_boxes_round_trip_through_transform() -> None:
    _, t = letterbox(image(480, 640), (320, 320))
    model_boxes = np.array([[0, 40, 320, 280], [10, 50, 20, 60]], np.float32)
    original = t.boxes_to_original(model_boxes)
    assert original[0].tolist() == pytest.approx([0, 0, 640, 480])
    assert original[1].tolist() == pytest.approx([20, 20, 40, 40])


def test_boxes_are_clipped() -> None:
    t = Transform((1.0, 1.0), (0.0, 0.0), (100, 50))
    out = t.boxes_to_original(np.array([[-10, -10, 200, 200]], np.float32))
    assert out[0].tolist() == [0, 0, 100, 50]


def test_rgb_nchw_scaled() -> None:
    im = image(64, 64)
    tensor, _ = preprocess(im, InputSpec(size_hw=(64, 64)))
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 0], im[..., 2] / 255, atol=1e-6)  # R first
    np.testing.assert_allclose(tensor[0, 2], im[..., 0] / 255, atol=1e-6)


def test_bgr_nhwc_mean_std_stretch_fp16() -> None:
    im = image(30, 40)
    spec = InputSpec(
        size_hw=(30, 40),
        layout="NHWC",
        color="BGR",
        resize="stretch",
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        dtype="float16",
    )
    tensor, t = preprocess(im, spec)
    assert tensor.shape == (1, 30, 40, 3) and tensor.dtype == np.float16
    np.testing.assert_allclose(tensor[0].astype(np.float32), (im / 255 - 0.5) / 0.25, atol=1e-2)
    assert t.gain_xy == (1.0, 1.0)


def test_uint8_input() -> None:
    im = image(16, 16)
    tensor, _ = preprocess(im, InputSpec(size_hw=(16, 16), dtype="uint8", layout="NHWC"))
    assert tensor.dtype == np.uint8 and np.array_equal(tensor[0], im[..., ::-1])


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValidationError, match="positive"):
        InputSpec(size_hw=(0, 640))
    with pytest.raises(ValidationError, match="non-zero"):
        InputSpec(std=(1.0, 0.0, 1.0))
    with pytest.raises(ValidationError):
        InputSpec(layout="CHW")  # type: ignore[arg-type]


@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (333, 777), (100, 100), (1080, 1920)])
@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
def test_fused_float_path_equals_canvas_then_convert(hw: tuple[int, int], resize: str) -> None:
    from edgeloop.preprocess import stretch

    im = image(*hw)
    spec = InputSpec(size_hw=(320, 256), resize=resize)  # type: ignore[arg-type]
    tensor, t = preprocess(im, spec)
    canvas, t2 = letterbox(im, (320, 256)) if resize == "letterbox" else stretch(im, (320, 256))
    expected = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(tensor, expected, rtol=1e-6, atol=1e-7)
    assert t == t2


def test_jpeg_reduction_never_forces_an_enlargement() -> None:
    from edgeloop.preprocess import jpeg_reduction

    spec = InputSpec(size_hw=(320, 320))
    assert jpeg_reduction((640, 480), spec) == 2  # 320x240 is exactly what letterbox keeps
    assert jpeg_reduction((1280, 720), spec) == 4
    assert jpeg_reduction((3000, 3000), spec) == 8
    assert jpeg_reduction((600, 480), spec) == 1  # letterbox keeps 320x256; half would be 300x240
    assert jpeg_reduction((320, 320), spec) == 1
    stretch_spec = InputSpec(size_hw=(320, 320), resize="stretch")
    assert jpeg_reduction((1280, 720), stretch_spec) == 2  # height must stay >= 320
