"""Fuzzing the header parser and decoder: every input decodes as declared within the cap, or ImageError.

``benchmarks/fuzz_images.py`` runs the same generator on 20,000 inputs and prints the counts.
"""

from __future__ import annotations

import struct

import pytest

from edgeloop.errors import ImageError
from edgeloop.imaging import decode_image
from edgeloop.testing.image_fuzz import MUTATIONS, run


def test_2000_mutated_and_random_files_never_crash() -> None:
    outcome = run(seed=12, count=2000)
    assert outcome.tried == 2000
    assert not outcome.crashes, "\n".join(outcome.crashes[:20])
    assert outcome.decoded > 100 and outcome.refused > 1000  # both paths are exercised
    assert len(MUTATIONS) >= 6


def test_another_formats_data_behind_a_declared_header_is_refused() -> None:
    """A 4x4 PNG header whose IHDR checksum is broken, then Photo CD data at byte 2048.

    Left to guess, Pillow fell through to its PCD plugin and decoded 768x512 pixels
    under a 100-pixel cap.
    """
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    data = bytearray(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"BAD!")
    data += bytes(96 * 2048 + 768 * 512 * 3 // 2)
    data[2048:2052] = b"PCD_"
    data += b"IEND\xae\x42\x60\x82"
    with pytest.raises(ImageError, match="corrupt png"):
        decode_image(bytes(data), max_pixels=100)
