"""The device path decodes without OpenCV, to the pixels OpenCV gives (OpenCV only in the test env).

Models see these pixels: parity with tools that decode with OpenCV (Ultralytics
among them) depends on them being the same, not merely close.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.imaging import decode_image, encode_image, write_image
from tests.blocked import run_without

cv2 = pytest.importorskip("cv2")


def scene(h: int = 237, w: int = 351, seed: int = 0) -> np.ndarray:
    """Camera-like content: gradients, edges and noise, odd sizes for chroma edge cases."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.dstack([x * 255 // w, y * 255 // h, (x + y) % 256]).astype(np.int16)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        img[y0 : y0 + 40, x0 : x0 + 60] = rng.integers(0, 256, 3)
    img += rng.integers(-12, 13, img.shape).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def cv2_encoded(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return bytes(buf.tobytes())


JPEGS = {
    "420": lambda im: cv2_encoded(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90]),
    "444": lambda im: cv2_encoded(
        ".jpg", im, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ),
    "progressive": lambda im: cv2_encoded(".jpg", im, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    "grey": lambda im: cv2_encoded(".jpg", cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)),
}


@pytest.mark.parametrize("kind", sorted(JPEGS))
@pytest.mark.parametrize("reduce", [1, 2, 4, 8])
def test_jpeg_same_pixels_as_opencv(kind: str, reduce: int) -> None:
    data = JPEGS[kind](scene())
    flags = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[reduce]
    want = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    got = decode_image(data, reduce=reduce)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def _png(image: np.ndarray) -> bytes:
    return cv2_encoded(".png", image)


LOSSLESS = {
    "png-bgr": lambda: _png(scene()),
    "png-grey": lambda: _png(cv2.cvtColor(scene(), cv2.COLOR_BGR2GRAY)),
    "png-bgra": lambda: _png(np.dstack([scene(), np.full(scene().shape[:2], 90, np.uint8)])),
    "png-16bit": lambda: _png((scene().astype(np.uint16) * 257 + 100).astype(np.uint16)),
    "bmp": lambda: cv2_encoded(".bmp", scene()),
    "webp-lossless": lambda: cv2_encoded(".webp", scene(), [cv2.IMWRITE_WEBP_QUALITY, 101]),
}


@pytest.mark.parametrize("kind", sorted(LOSSLESS))
def test_other_formats_same_pixels_as_opencv(kind: str) -> None:
    data = LOSSLESS[kind]()
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decode_image(data), want)


def test_palette_png_same_pixels_as_opencv() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(scene()[:, :, ::-1]).convert("P", palette=Image.Palette.ADAPTIVE).save(buffer, "PNG")
    data = buffer.getvalue()
    assert np.array_equal(decode_image(data), cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_opencv(orientation: int) -> None:
    """cv2.IMREAD_COLOR applies EXIF orientation itself: the result must be identical."""
    from tests.test_imaging import with_exif_orientation

    data = with_exif_orientation(JPEGS["420"](scene()), orientation)
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decode_image(data), want)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".jpg"])
def test_write_image_round_trip(tmp_path: Path, suffix: str) -> None:
    image = scene()
    write_image(tmp_path / f"a{suffix}", image)
    back = cv2.imread(str(tmp_path / f"a{suffix}"), cv2.IMREAD_COLOR)
    if suffix in (".png", ".bmp"):
        assert np.array_equal(back, image)
    else:
        assert np.abs(back.astype(int) - image).mean() < 8  # lossy at quality 90, on a noisy scene


def test_unknown_suffix_is_refused() -> None:
    from edgeloop.errors import ImageError

    with pytest.raises(ImageError, match=r"\.tiff.*use \.jpg"):
        encode_image(scene(), ".tiff")


def test_device_path_runs_without_opencv(yolo_bundle: Bundle, tmp_path: Path) -> None:
    """predict (JSON and annotated images), the server and bench run with cv2 impossible to import."""
    cv2.imwrite(str(tmp_path / "a.jpg"), scene())
    cv2.imwrite(str(tmp_path / "b.png"), scene(seed=1))
    code = f"""
import edgeloop.serve.app, edgeloop.hardware.bench
from edgeloop.hardware.bench import synthetic_jpeg
from edgeloop.imaging import decode_image
assert decode_image(synthetic_jpeg()).shape == (720, 1280, 3)
sys.argv = ["edgeloop", "predict", {str(yolo_bundle.root)!r}, {str(tmp_path)!r}, "--json",
            "--out", {str(tmp_path / "out")!r}]
from edgeloop.cli.main import main
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
assert "cv2" not in sys.modules
"""
    result = run_without(("cv2",), code, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"predictions"') == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.png"]


def test_video_without_opencv_names_the_extra() -> None:
    code = """
from edgeloop.errors import EdgeloopError
try:
    import edgeloop.stream.sources
except EdgeloopError as exc:
    print(exc)
"""
    result = run_without(("cv2",), code, timeout=60)
    assert "pip install" in result.stdout and "'edgeloop[stream]'" in result.stdout, result.stderr
