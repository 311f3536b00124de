"""Crafted TensorFlow and .tflite files: one clear error line, no traceback, bounded memory."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeloop.testing.hostile_imports import run_import
from tests.convert.tf_artifacts import refs_import, refs_run, tf_models

pytest.importorskip("ai_edge_litert")


def _tflite_cases(work: Path) -> dict[str, tuple[Path, str]]:
    """name -> (crafted .tflite, what its error line says)."""
    good = (tf_models() / "detector.tflite").read_bytes()
    truncated = work / "truncated.tflite"
    truncated.write_bytes(good[: len(good) // 3])
    offsets = bytearray(good)
    for at in range(8, 400, 4):  # table offsets pointing far past the end of the file
        offsets[at : at + 4] = struct.pack("<I", 0x7FFFFFF0)
    garbage = work / "offsets.tflite"
    garbage.write_bytes(bytes(offsets))
    shape = struct.pack("<5i", 4, 1, 64, 64, 3)  # the input's shape vector: length, then the dims
    assert good.count(shape) == 1
    huge = work / "huge.tflite"
    huge.write_bytes(good.replace(shape, struct.pack("<5i", 4, 1, 200_000, 200_000, 3)))
    text = work / "text.tflite"
    text.write_bytes(b"this is not a model\n" * 50)
    invalid = "not a valid Flatbuffer"
    return {
        "truncated": (truncated, invalid),
        "offsets": (garbage, invalid),
        "huge": (huge, "declares shape [1, 200000, 200000, 3]"),
        "text": (text, invalid),
    }


def _tflite_maker(case: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path, _ = _tflite_cases(folder)[case]
        return [str(path), "--names", "a,b,c"]

    return make


TFLITE_MAKERS = [(case, _tflite_maker(case)) for case in ("truncated", "offsets", "huge", "text")]
"""For benchmarks/hostile_imports.py (edgeloop.testing.hostile_models.HOSTILE)."""


@pytest.mark.parametrize("case", ["truncated", "offsets", "huge", "text"])
def test_crafted_tflite(case: str, tmp_path: Path) -> None:
    path, says = _tflite_cases(tmp_path)[case]
    outcome = run_import([str(path), "--out", str(tmp_path / "b"), "--names", "a,b,c"])
    assert outcome.problem() is None, outcome.problem()
    assert says in outcome.stderr_lines[0]
    assert not (tmp_path / "b").exists()


# A frozen graph whose placeholder declares a gigantic image (the rest of the graph unchanged).
_HUGE_PLACEHOLDER = r"""
import sys
import tensorflow as tf
graph_def = tf.compat.v1.GraphDef()
graph_def.ParseFromString(open(sys.argv[1], "rb").read())
for node in graph_def.node:
    if node.op == "Placeholder":
        dims = node.attr["shape"].shape.dim
        dims[1].size = dims[2].size = 300_000
open(sys.argv[2], "wb").write(graph_def.SerializeToString())
"""


def _tensorflow_cases(work: Path) -> dict[str, Path]:
    good = (tf_models() / "detector.pb").read_bytes()
    saved = work / "garbage_savedmodel"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"\x01" * 200)
    truncated = work / "truncated.pb"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = work / "garbage.pb"
    garbage.write_bytes(bytes(range(256)) * 8)
    huge = work / "huge.pb"
    refs_run(_HUGE_PLACEHOLDER, str(tf_models() / "detector.pb"), str(huge))
    return {"savedmodel": saved, "truncated": truncated, "garbage": garbage, "huge": huge}


def test_crafted_tensorflow_files(tmp_path: Path) -> None:
    """Each case in the reference environment (TensorFlow is there): exit 1, one line."""
    problems = {}
    for case, path in _tensorflow_cases(tmp_path).items():
        outcome = refs_import([str(path), "--out", str(tmp_path / case), "--names", "a,b,c"])
        problem = outcome.problem()
        if problem is not None:
            problems[case] = problem
        else:
            assert outcome.stderr_lines[0].startswith(f"error: {path.name}: "), outcome.stderr_lines
        assert not (tmp_path / case).exists()
    assert not problems, problems
