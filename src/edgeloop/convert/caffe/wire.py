"""Protocol-buffer wire format: a bounded reader and a small writer.

The reader walks one message's fields without copying payloads (``memoryview``
slices of the file) and refuses anything that runs past its end. The writer
builds messages from (field number, value) pairs; it writes the ONNX file the
Caffe converter produces, and the test models' ``.caffemodel`` files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """The bytes are not a well-formed protocol-buffer message."""


@dataclass(frozen=True)
class Field:
    """One field of a message: its number, wire type, and value (an int, or the payload bytes)."""

    number: int
    wire: int
    value: int | memoryview


def read_varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= end:
            raise WireError(f"a number runs past the end of its message (byte {pos + i})")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise WireError(f"a number longer than {MAX_VARINT_BYTES} bytes at byte {pos}")


def fields(data: memoryview) -> Iterator[Field]:
    """The fields of one message, in file order.

    Raises:
        WireError: a length runs past the end, an unknown wire type, a zero field number.
    """
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}: not a protocol-buffer message")
        if wire == VARINT:
            value, pos = read_varint(data, pos, end)
            yield Field(number, wire, value)
        elif wire == LENGTH:
            size, pos = read_varint(data, pos, end)
            if size > end - pos:
                raise WireError(
                    f"field {number} says {size} bytes follow at byte {pos}, but only {end - pos} remain "
                    "(truncated or corrupt file)"
                )
            yield Field(number, wire, data[pos : pos + size])
            pos += size
        elif wire in (FIXED32, FIXED64):
            size = 4 if wire == FIXED32 else 8
            if size > end - pos:
                raise WireError(f"field {number} runs past the end of its message (byte {pos})")
            yield Field(number, wire, data[pos : pos + size])
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire} (field {number}) at byte {pos}")


def packed_varints(data: memoryview, limit: int) -> list[int]:
    """A packed repeated varint field (at most ``limit`` values)."""
    out: list[int] = []
    pos, end = 0, len(data)
    while pos < end:
        if len(out) >= limit:
            raise WireError(f"more than {limit} values in a packed list")
        value, pos = read_varint(data, pos, end)
        out.append(value)
    return out


# ---- writer ----


def varint(value: int) -> bytes:
    """The varint encoding of a non-negative int (negative ints as 64-bit two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def int_field(number: int, value: int) -> bytes:
    return key(number, VARINT) + varint(value)


def bytes_field(number: int, value: bytes | str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return key(number, LENGTH) + varint(len(raw)) + raw


def float_field(number: int, value: float) -> bytes:
    import struct

    return key(number, FIXED32) + struct.pack("<f", value)


def packed_ints(number: int, values: list[int]) -> bytes:
    return bytes_field(number, b"".join(varint(v) for v in values))
