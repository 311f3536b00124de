"""Safe image decoding, encoding and drawing.

Images are refused *before* decoding when their header declares more pixels
than the cap, when they are truncated, or when they are not a format we can
read the header of: a 243 KB PNG can declare 16000x16000 pixels (~540 MiB).

Decoded images are uint8 HxWx3 arrays in BGR order (the OpenCV convention).
No OpenCV here: JPEG through libjpeg-turbo (simplejpeg, the same decoder and
settings as ``cv2.imdecode``, so the same pixels), other formats and drawing
through Pillow.
"""

from __future__ import annotations

import colorsys
import io
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.errors import ImageError, ImageTooLarge
from edgeloop.types import Detections

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageHeader:
    """What an image declares about itself, read without decoding pixels."""

    format: str
    width: int
    height: int
    orientation: int = 1  # EXIF orientation, 1 = as stored


def read_header(data: bytes) -> ImageHeader:
    """Read the format, size and EXIF orientation of an encoded image.

    Raises:
        ImageError: empty, unknown format, or a header that is cut short.
    """
    if not data:
        raise ImageError("empty image: 0 bytes received")
    try:
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_header(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png_header(data)
        if data[:2] == b"BM":
            width, height = struct.unpack_from("<ii", data, 18)
            return ImageHeader("bmp", width, abs(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_header(data)
    except struct.error as exc:
        raise ImageError("truncated image: the header is cut short") from exc
    raise ImageError(
        f"not a supported image: expected JPEG, PNG, BMP or WebP data (first bytes: {data[:8]!r})"
    )


def _png_header(data: bytes) -> ImageHeader:
    if data[12:16] != b"IHDR":
        raise ImageError("corrupt PNG: the IHDR chunk is missing")
    width, height = struct.unpack_from(">II", data, 16)
    if b"IEND" not in data[-64:]:
        raise ImageError("truncated PNG: the file ends before its IEND chunk")
    return ImageHeader("png", width, height)


def _webp_header(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, 21)
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", w, h)
    raise ImageError(f"corrupt WebP: unknown chunk {chunk!r}")


# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes) -> ImageHeader:
    pos, size, orientation = 2, None, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"corrupt JPEG: marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7):
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segment = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS:
            height, width = struct.unpack_from(">HH", segment, 1)
            size = (width, height)
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(segment[6:])
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            if size is None:
                break
            if data.rfind(b"\xff\xd9") < pos:
                raise ImageError("truncated JPEG: the file ends before its end-of-image marker")
            return ImageHeader("jpeg", size[0], size[1], orientation)
        pos += 2 + length
    raise ImageError("truncated or corrupt JPEG: no frame header before the data ends")


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (0x0112) of IFD0, or 1 when absent or unreadable."""
    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(endian + "I", tiff, 4)
        (count,) = struct.unpack_from(endian + "H", tiff, ifd)
        for i in range(min(count, 512)):
            tag, _, _, value = struct.unpack_from(endian + "HHIH", tiff, ifd + 2 + 12 * i)
            if tag == 0x0112:
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        pass
    return 1


def oriented_size(header: ImageHeader) -> tuple[int, int]:
    """(width, height) as displayed, after EXIF orientation."""
    if header.orientation >= 5:
        return header.height, header.width
    return header.width, header.height


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, reduce: int = 1) -> ImageArray:
    """Decode an encoded image to HxWx3 uint8 BGR, EXIF orientation applied.

    Args:
        reduce: 2, 4 or 8 decodes a JPEG at that fraction of its size, in the
            DCT domain (much cheaper than decoding in full and resizing); each
            side becomes ceil(side / reduce). Other formats ignore it.

    Raises:
        ImageTooLarge: above ``max_pixels``.
        ImageError: empty, truncated, corrupt, or not an image.
    """
    header = read_header(data)
    pixels = header.width * header.height
    if header.width <= 0 or header.height <= 0:
        raise ImageError(f"corrupt {header.format}: size {header.width}x{header.height}")
    if pixels > max_pixels:
        cap = f"{max_pixels / 1e6:g} MP" if max_pixels >= 1e6 else f"{max_pixels} pixel"
        raise ImageTooLarge(
            f"image too large: {header.width}x{header.height} = {pixels / 1e6:.1f} MP exceeds the "
            f"{cap} cap; resize it or raise the cap (--max-pixels)"
        )
    if reduce not in (1, 2, 4, 8):
        raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    image = _decode_jpeg(data, header, reduce) if header.format == "jpeg" else None
    if image is None:
        image = _decode_pillow(data, header)
    if image.shape[0] * image.shape[1] > max_pixels:  # never reached while the header agrees
        raise ImageError(f"corrupt {header.format}: decoded {image.shape[1]}x{image.shape[0]}, above the cap")
    return apply_orientation(image, header.orientation)


def _decode_jpeg(data: bytes, header: ImageHeader, reduce: int) -> ImageArray | None:
    """libjpeg-turbo with OpenCV's settings (accurate DCT, fancy upsampling); None for
    colour spaces it cannot turn into BGR (CMYK), which Pillow then reads."""
    import simplejpeg

    try:
        if reduce == 1:
            return simplejpeg.decode_jpeg(data, colorspace="BGR")
        # The DCT-domain scale 1/reduce, as cv2.IMREAD_REDUCED_COLOR_{2,4,8}: sides ceil(side / reduce).
        return simplejpeg.decode_jpeg(
            data,
            colorspace="BGR",
            min_width=-(-header.width // reduce),
            min_height=-(-header.height // reduce),
            min_factor=reduce,
        )
    except ValueError as exc:
        if "color conversion" in str(exc).lower() or "colorspace" in str(exc).lower():
            return None
        raise ImageError(f"corrupt jpeg: the decoder could not read the pixel data ({exc})") from None


# Pillow reads only the format the header named: left to guess, it falls through to plugins
# that accept any bytes (PCD, SPIDER, TGA...) and decodes sizes the header never declared.
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "webp": "WEBP"}


def _decode_pillow(data: bytes, header: ImageHeader) -> ImageArray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[header.format]]) as im:
            if im.size != (header.width, header.height):  # checked before any pixel is decoded
                raise ImageError(
                    f"corrupt {header.format}: the header declares {header.width}x{header.height} "
                    f"but the data holds {im.size[0]}x{im.size[1]}"
                )
            im.load()
            if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit grey: keep the top 8 bits, as OpenCV
                grey = (np.asarray(im, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
            rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    except UnidentifiedImageError:  # its message names a BytesIO object, not the cause
        raise ImageError(f"corrupt {header.format}: the decoder cannot read its header") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(
            f"corrupt {header.format}: the decoder could not read the pixel data ({exc})"
        ) from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def apply_orientation(image: ImageArray, orientation: int) -> ImageArray:
    """Rotate/flip an image as stored so that it displays upright (EXIF 1..8)."""
    views = {
        2: lambda a: a[:, ::-1],  # mirror
        3: lambda a: a[::-1, ::-1],  # rotate 180
        4: lambda a: a[::-1],  # flip vertically
        5: lambda a: a.transpose(1, 0, 2),  # transpose
        6: lambda a: a.transpose(1, 0, 2)[:, ::-1],  # rotate 90 clockwise
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # transverse
        8: lambda a: a.transpose(1, 0, 2)[::-1],  # rotate 90 counter-clockwise
    }
    if orientation not in views:
        return image
    return np.ascontiguousarray(views[orientation](image))


def read_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reduce: int = 1,
) -> ImageArray:
    """Read and safely decode an image file. Errors name the file."""
    path = Path(path)
    data = read_image_bytes(path, max_bytes)
    try:
        return decode_image(data, max_pixels, reduce)
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None  # same class: a too-large image stays too large


def read_image_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an image file, refusing files above ``max_bytes``. Errors name the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageTooLarge(
                f"{path}: file is {size / 2**20:.0f} MiB, above the {max_bytes / 2**20:.0f} MiB cap"
            )
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def encode_jpeg(image: ImageArray, quality: int = 90) -> bytes:
    """Encode a BGR image as JPEG bytes (4:2:0, as OpenCV's default)."""
    import simplejpeg

    try:
        return bytes(
            simplejpeg.encode_jpeg(
                np.ascontiguousarray(image), quality, colorspace="BGR", colorsubsampling="420"
            )
        )
    except ValueError as exc:
        raise ImageError(f"could not encode the image as JPEG: {exc}") from None


def encode_image(image: ImageArray, suffix: str, quality: int = 90) -> bytes:
    """Encode a BGR image for a file suffix: .jpg/.jpeg, .png, .bmp or .webp."""
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return encode_jpeg(image, quality)
    formats = {".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}
    if suffix not in formats:
        raise ImageError(f"cannot write {suffix or 'files without a suffix'}: use .jpg, .png, .bmp or .webp")
    from PIL import Image

    buffer = io.BytesIO()
    options = {"quality": quality} if suffix == ".webp" else {}
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(buffer, formats[suffix], **options)
    return buffer.getvalue()


def write_image(path: str | Path, image: ImageArray, quality: int = 90) -> None:
    """Write a BGR image, in the format its suffix names. Errors name the file."""
    path = Path(path)
    data = encode_image(image, path.suffix, quality)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ImageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _color(class_id: int) -> tuple[int, int, int]:
    """An RGB colour per class: golden-ratio hue steps give distinct, stable colours."""
    hue = class_id * 0.618033988749895 % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 220 / 255, 230 / 255)
    return round(r * 255), round(g * 255), round(b * 255)


@lru_cache(maxsize=8)
def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def draw_detections(image: ImageArray, detections: Detections) -> ImageArray:
    """A copy of ``image`` with boxes and "name confidence" labels drawn."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    draw = ImageDraw.Draw(canvas)
    thickness = max(1, round(min(image.shape[:2]) / 300))
    font = _font(max(11, round(min(image.shape[:2]) / 40)))
    for (x1, y1, x2, y2), conf, cls in zip(
        detections.xyxy.astype(int).tolist(),
        detections.confidence.tolist(),
        detections.class_id.tolist(),
        strict=True,
    ):
        color = _color(cls)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=thickness)
        label = f"{detections.class_name(cls)} {conf:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left, bottom - top + 4
        ty = y1 - th if y1 - th >= 0 else y1
        draw.rectangle((x1, ty, x1 + tw + 4, ty + th), fill=color)
        draw.text((x1 + 2 - left, ty + 2 - top), label, fill=(0, 0, 0), font=font)
    return np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1])
