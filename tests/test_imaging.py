import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.errors import ImageError
from edgeloop.imaging import decode_image, draw_detections, encode_jpeg, read_header, read_image
from edgeloop.types import Detections


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 4 % 256, y * 5 % 256, (x + y) % 256]).astype(np.uint8)


def encoded(ext: str, image: np.ndarray | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, gradient() if image is None else image)
    assert ok
    return buf.tobytes()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares width x height."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 EXIF segment holding only the orientation tag after SOI."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("ext,fmt", [(".jpg", "jpeg"), (".png", "png"), (".bmp", "bmp"), (".webp", "webp")])
def test_header_and_decode_each_format(ext: str, fmt: str) -> None:
    data = encoded(ext)
    header = read_header(data)
    assert (header.format, header.width, header.height) == (fmt, 64, 48)
    image = decode_image(data)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8


def test_lossless_decode_is_exact_bgr() -> None:
    assert np.array_equal(decode_image(encoded(".png")), gradient())


def test_progressive_jpeg_header() -> None:
    _, buf = cv2.imencode(".jpg", gradient(), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert read_header(buf.tobytes()).width == 64


def test_empty_input() -> None:
    with pytest.raises(ImageError, match="empty image"):
        decode_image(b"")


def test_text_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not a supported image"):
        decode_image(b"hello, I am a text file\n")


def test_truncated_jpeg() -> None:
    data = encoded(".jpg", gradient(480, 640))
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode_image(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        decode_image(data[:10])


def test_truncated_png() -> None:
    data = encoded(".png")
    with pytest.raises(ImageError, match="truncated PNG"):
        decode_image(data[: len(data) - 20])


def test_pixel_bomb_is_refused_before_decoding() -> None:
    data = png_declaring(50_000, 50_000)
    assert len(data) < 200
    with pytest.raises(ImageError, match=r"50000x50000 = 2500.0 MP exceeds the 40 MP cap"):
        decode_image(data)


def test_pixel_cap_is_configurable() -> None:
    with pytest.raises(ImageError, match="exceeds"):
        decode_image(encoded(".png"), max_pixels=100)


@pytest.mark.parametrize(
    "orientation,expected",
    [
        (1, lambda im: im),
        (3, lambda im: im[::-1, ::-1]),
        (6, lambda im: np.rot90(im, k=-1)),
        (8, lambda im: np.rot90(im, k=1)),
        (2, lambda im: im[:, ::-1]),
        (4, lambda im: im[::-1]),
        (5, lambda im: im.transpose(1, 0, 2)),
        (7, lambda im: im.transpose(1, 0, 2)[::-1, ::-1]),
    ],
)
def test_exif_orientation_is_applied(orientation: int, expected) -> None:  # type: ignore[no-untyped-def]
    # Blocks of flat colour survive JPEG well enough to compare orientation.
    stored = np.zeros((32, 48, 3), np.uint8)
    stored[:16, :24] = (255, 0, 0)
    stored[:16, 24:] = (0, 255, 0)
    stored[16:, :24] = (0, 0, 255)
    stored[16:, 24:] = (255, 255, 255)
    data = with_exif_orientation(encoded(".jpg", stored), orientation)
    assert read_header(data).orientation == orientation
    decoded = decode_image(data).astype(int)
    want = np.ascontiguousarray(expected(stored)).astype(int)
    assert decoded.shape == want.shape
    assert np.abs(decoded - want).mean() < 12


def test_read_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not really")
    with pytest.raises(ImageError, match="notes.jpg: not a supported image"):
        read_image(bad)
    with pytest.raises(ImageError, match="missing.jpg: cannot read"):
        read_image(tmp_path / "missing.jpg")


def test_read_image_byte_cap(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(encoded(".png"))
    with pytest.raises(ImageError, match="cap"):
        read_image(path, max_bytes=10)


def test_encode_and_draw() -> None:
    image = gradient(200, 300)
    dets = Detections(np.array([[10, 10, 100, 80]]), np.array([0.9]), np.array([0]), ("cat",))
    drawn = draw_detections(image, dets)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert np.array_equal(image, gradient(200, 300)), "drawing must not modify the input"
    assert read_header(encode_jpeg(drawn)).format == "jpeg"
