"""A seeded fuzzer for the image header parser and decoder (``edgeloop.imaging``).

``cases(seed, count)`` yields encoded files: valid JPEG, PNG, BMP, WebP and GIF
seeds (several variants each) with bit flips, truncations, huge or zero declared
dimensions, spliced and duplicated byte ranges, another format's data behind a broken
header, or plain random bytes. ``run``
feeds each to ``decode_image`` and counts outcomes; the contract is that every
input either decodes to an HxWx3 uint8 image of the size its header declares,
within the pixel cap, or raises ``ImageError`` -- any other exception, a decode
above the cap or of another size than declared, is a crash.
Same seed, same files: a crash is reproduced from its seed and index.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgeloop.errors import ImageError
from edgeloop.imaging import decode_image, oriented_size, read_header

# Declared sizes that sit on the edges of the integer fields the formats use.
EDGE_SIZES = (0, 1, 2, 255, 256, 6_000, 16_383, 16_384, 65_535, 65_536, 2**31 - 1, 2**31, 2**32 - 1)


def _pillow_seeds() -> dict[str, bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8))
    seeds: dict[str, bytes] = {}

    def save(name: str, image: Image.Image, fmt: str, **options: object) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        seeds[name] = buffer.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    save("jpeg", rgb, "JPEG", quality=80)
    save("jpeg-progressive", rgb, "JPEG", progressive=True)
    save("jpeg-exif", rgb, "JPEG", exif=exif.tobytes())
    save("jpeg-grey", rgb.convert("L"), "JPEG")
    save("jpeg-cmyk", rgb.convert("CMYK"), "JPEG")
    save("png", rgb, "PNG")
    save("png-rgba", rgb.convert("RGBA"), "PNG")
    save("png-palette", rgb.convert("P"), "PNG")
    save("png-interlaced", rgb, "PNG", interlace=True)
    save("png-16bit", Image.fromarray(rng.integers(0, 65536, (9, 11), dtype=np.uint16)), "PNG")
    save("bmp", rgb, "BMP")
    save("bmp-palette", rgb.convert("P"), "BMP")
    save("webp-lossy", rgb, "WEBP", quality=70)
    save("webp-lossless", rgb, "WEBP", lossless=True)
    save("webp-alpha", rgb.convert("RGBA"), "WEBP")
    save("gif", rgb.convert("P"), "GIF")
    return seeds


def _size_offsets(data: bytes) -> list[tuple[int, str]]:
    """Where a seed declares its width and height: (offset, struct format) pairs."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return [(16, ">I"), (20, ">I")]
    if data[:2] == b"BM":
        return [(18, "<i"), (22, "<i")]
    if data[:3] == b"GIF":
        return [(6, "<H"), (8, "<H")]
    if data[:4] == b"RIFF":
        chunk = data[12:16]
        if chunk == b"VP8 ":
            return [(26, "<H"), (28, "<H")]
        if chunk == b"VP8L":
            return [(21, "<I")]
        return [(24, "<I"), (27, "<H")]  # VP8X: 24-bit fields, written loosely on purpose
    offsets: list[tuple[int, str]] = []
    pos = 2
    while pos + 9 < len(data) and data[pos] == 0xFF:  # JPEG: every SOF's height and width
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            offsets += [(pos + 5, ">H"), (pos + 7, ">H")]
        if marker == 0xDA:
            break
        pos += 2 + length
    return offsets


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every PNG chunk CRC, so that a mutation reaches the decoder past the CRC check."""
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            out += data[pos:]
            return bytes(out)
        body = data[pos + 4 : end]
        out += data[pos : pos + 8 + length] + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out + data[pos:])


def _flip_bits(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    header = rng.random() < 0.6  # most parsing happens in the first bytes
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(min(len(buf), 96) if header else len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _huge_size(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    offsets = _size_offsets(data)
    for offset, fmt in rng.sample(offsets, k=rng.randint(1, len(offsets))) if offsets else []:
        limit = 2 ** (8 * struct.calcsize(fmt)) - 1
        value = rng.choice(EDGE_SIZES) if rng.random() < 0.7 else rng.randint(0, limit)
        value &= limit
        if fmt.startswith("<i") and value >= 2**31:
            value -= 2**32
        if offset + struct.calcsize(fmt) <= len(buf):
            struct.pack_into(fmt, buf, offset, value)
    out = bytes(buf)
    return _fix_png_crcs(out) if out[:4] == b"\x89PNG" and rng.random() < 0.7 else out


def _splice(rng: random.Random, data: bytes) -> bytes:
    """Duplicate, delete or insert a range of bytes (chunks and markers repeated or cut)."""
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 64))
    choice = rng.randrange(3)
    if choice == 0:
        return data[:j] + data[i:j] * rng.randint(1, 4) + data[j:]
    if choice == 1:
        return data[:i] + data[j:]
    return data[:i] + rng.randbytes(rng.randint(1, 32)) + data[i:]


# Pillow plugins that accept any prefix: PCD looks for this tag at byte 2048 and decodes 768x512
# pixels from byte 96 * 2048 on.
_FOREIGN_TAG = b"PCD_"
_FOREIGN_SIZE = 96 * 2048 + 768 * 512 * 3 // 2 - 2048


def _foreign_payload(rng: random.Random, data: bytes) -> bytes:
    """A header that declares a tiny image, a broken first chunk, then another format's data."""
    buf = bytearray(data[:2048].ljust(2048, b"\0") + _FOREIGN_TAG + bytes(_FOREIGN_SIZE) + data[-64:])
    i = rng.randrange(8, 40)
    buf[i] ^= 0xFF  # PNG: a bad IHDR checksum; other formats: a corrupt header field
    return bytes(buf)


def _random_bytes(rng: random.Random, data: bytes) -> bytes:
    prefix = data[: rng.choice((0, 2, 3, 4, 8, 12, 16, 30))] if rng.random() < 0.7 else b""
    return prefix + rng.randbytes(rng.randint(0, 600))


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "bit flips": _flip_bits,
    "truncation": _truncate,
    "huge or zero size": _huge_size,
    "splice": _splice,
    "random bytes": _random_bytes,
    "foreign payload": _foreign_payload,
}


def cases(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` fuzz inputs as ``(description, data)``, the same for the same ``seed``."""
    seeds = _pillow_seeds()
    names = sorted(seeds)
    rng = random.Random(seed)
    mutations = list(MUTATIONS)
    for index in range(count):
        name = names[index % len(names)]
        data = seeds[name]
        applied = rng.sample(mutations, k=1 if rng.random() < 0.7 else 2)
        for mutation in applied:
            data = MUTATIONS[mutation](rng, data) if data else data
        yield f"#{index} {name}: {' + '.join(applied)}", data


@dataclass
class Outcome:
    """Counts of one fuzzing run; ``crashes`` lists what broke the contract."""

    tried: int = 0
    decoded: int = 0
    refused: int = 0
    crashes: list[str] = field(default_factory=list)


def check(data: bytes, max_pixels: int, reduce: int = 1) -> tuple[str, str]:
    """``("decoded", "")``, ``("refused", "")`` or ``("crashed", what went wrong)`` for one input."""
    header = None
    try:
        header = read_header(data)
    except ImageError:
        pass
    except Exception as exc:  # the contract under test: nothing but ImageError escapes
        return "crashed", f"read_header raised {type(exc).__name__}: {exc}"
    try:
        image = decode_image(data, max_pixels=max_pixels, reduce=reduce)
    except ImageError:
        return "refused", ""
    except Exception as exc:
        return "crashed", f"decode_image raised {type(exc).__name__}: {exc}"
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        return "crashed", f"decoded to {image.dtype} {image.shape}, not HxWx3 uint8"
    if image.shape[0] * image.shape[1] > max_pixels:
        return "crashed", f"decoded {image.shape[1]}x{image.shape[0]} above the {max_pixels} pixel cap"
    if header is None:
        return "crashed", "decoded data whose header read_header refuses"
    width, height = oriented_size(header)
    if header.format == "jpeg":
        width, height = -(-width // reduce), -(-height // reduce)
    if image.shape[:2] != (height, width):
        return "crashed", f"decoded {image.shape[1]}x{image.shape[0]}, the header declares {width}x{height}"
    return "decoded", ""


def run(seed: int, count: int, max_pixels: int = 100_000) -> Outcome:
    """Fuzz ``decode_image`` with ``count`` inputs (a quarter with JPEG DCT-domain reduction)."""
    outcome = Outcome()
    for index, (description, data) in enumerate(cases(seed, count)):
        verdict, problem = check(data, max_pixels, reduce=2 if index % 4 == 3 else 1)
        outcome.tried += 1
        if verdict == "decoded":
            outcome.decoded += 1
        elif verdict == "refused":
            outcome.refused += 1
        else:
            outcome.crashes.append(f"{description} ({len(data)} bytes): {problem}")
    return outcome
