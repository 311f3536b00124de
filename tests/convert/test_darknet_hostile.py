"""Crafted Darknet files: each gives one clear ``error:`` line, exit 1, no traceback, bounded memory,
and is refused before anything the size of the lie is allocated."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeloop.testing.darknet_models import random_weights, yolov4_tiny_cfg
from edgeloop.testing.hostile_imports import run_import
from tests.blocked import run_without

SRC = Path(__file__).resolve().parents[2] / "src"
Case = Callable[[Path], list[str]]


def _model(tmp: Path, text: str | None = None) -> tuple[Path, Path]:
    text = text if text is not None else yolov4_tiny_cfg(64, 2)
    cfg = tmp / "m.cfg"
    cfg.write_text(text, encoding="utf-8")
    weights = tmp / "m.weights"
    if text.startswith("[net]") and "yolo" in text:
        try:
            random_weights(text, weights)
        except Exception:  # a hostile cfg has no weights of its own: any file will do
            weights.write_bytes(b"\0" * 64)
    else:
        weights.write_bytes(b"\0" * 64)
    return cfg, weights


def _args(cfg: Path, weights: Path, *extra: str) -> list[str]:
    return [str(cfg), "--weights", str(weights), "--out", str(cfg.parent / "out"), *extra]


def truncated(tmp: Path) -> list[str]:
    cfg, weights = _model(tmp)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 4000])
    return _args(cfg, weights)


def too_long(tmp: Path) -> list[str]:
    cfg, weights = _model(tmp)
    with weights.open("ab") as f:
        f.write(b"\0" * 4096)
    return _args(cfg, weights)


def sparse_huge_weights(tmp: Path) -> list[str]:
    """A 64 GiB sparse .weights: refused from its size, never read."""
    cfg, weights = _model(tmp)
    with weights.open("r+b") as f:
        f.truncate(64 << 30)
    return _args(cfg, weights)


def _edit(pattern: str, repl: str, count: int = 1) -> Case:
    def case(tmp: Path) -> list[str]:
        text = re.sub(pattern, repl, yolov4_tiny_cfg(64, 2), count=count, flags=re.M)
        cfg, weights = _model(tmp, text)
        return _args(cfg, weights)

    return case


def _text(content: bytes) -> Case:
    def case(tmp: Path) -> list[str]:
        cfg = tmp / "m.cfg"
        cfg.write_bytes(content)
        weights = tmp / "m.weights"
        weights.write_bytes(b"\0" * 64)
        return _args(cfg, weights)

    return case


def no_weights(tmp: Path) -> list[str]:
    cfg, _ = _model(tmp)
    return [str(cfg), "--out", str(tmp / "out")]


def with_imgsz(tmp: Path) -> list[str]:
    cfg, weights = _model(tmp)
    return _args(cfg, weights, "--imgsz", "320")


def wrong_names(tmp: Path) -> list[str]:
    cfg, weights = _model(tmp)
    return _args(cfg, weights, "--names", "a,b,c")


SHORTCUT_AT_3 = (
    "[net]\nwidth=64\nheight=64\n"
    + "".join("[convolutional]\nfilters=8\nsize=1\nactivation=leaky\n" for _ in range(3))
    + "[shortcut]\nfrom=-50\n"
)

CASES: dict[str, tuple[Case, str]] = {
    "truncated weights": (truncated, r"truncated\): the cfg needs \d+ floats, the file holds \d+"),
    "over-long weights": (
        too_long,
        r"longer than the cfg needs\): the cfg needs \d+ floats, the file holds \d+",
    ),
    "64 GiB sparse weights": (sparse_huge_weights, r"the cfg needs \d+ floats, the file holds \d+"),
    "route to layer 999": (_edit(r"^layers=-1,23$", "layers=-1,999"), r"refers to layer 999"),
    "shortcut from -50 at layer 3": (_text(SHORTCUT_AT_3.encode()), r"layer 3\) refers to layer -50"),
    "width 1000000": (_edit(r"^width=64$", "width=1000000"), r"width=1000000 is outside 1\.\.4096"),
    "filters 10**9": (_edit(r"^filters=64$", "filters=1000000000"), r"filters=1000000000 is outside"),
    "yolo num that lies": (_edit(r"^num=6$", "num=9", count=2), r"num=9 but 12 anchor values"),
    "yolo classes that lie": (
        _edit(r"^classes=2$", "classes=7", count=2),
        r"not 3 anchors x \(5 \+ 7 classes\)",
    ),
    "route to a [yolo] layer": (
        _edit(r"^layers=-4$", "layers=-1"),
        r"\(layer 31\) reads the output of the \[yolo\] layer 30",
    ),
    "conv after a [yolo] layer": (
        _edit(r"^\[route\]\nlayers=-4$", "[convolutional]\nfilters=8\nsize=1\nactivation=leaky"),
        r"reads the output of the \[yolo\] layer",
    ),
    "garbage text": (_text(b"hello world\nthis is not darknet\n"), r"not a Darknet cfg line|\[net\]"),
    "non-UTF-8 bytes": (_text(os.urandom(2048) + b"\xff\xfe"), r"not UTF-8 text"),
    "unsupported layer": (_edit(r"^\[upsample\]$", "[reorg3d]"), r"layer type \[reorg3d\] is not supported"),
    "missing --weights": (no_weights, r"pass --weights FILE\.weights"),
    "names that do not fit": (wrong_names, r"3 class names given but .* classes=2"),
    "--imgsz": (with_imgsz, r"--imgsz does not apply to Darknet models: edit width= and height="),
}


MAKERS = [(name, make) for name, (make, _) in CASES.items()]
"""For benchmarks/hostile_imports.py (edgeloop.testing.hostile_models.HOSTILE)."""


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_darknet_file_fails_cleanly(name: str, tmp_path: Path) -> None:
    make, expected = CASES[name]
    outcome = run_import(make(tmp_path), timeout_s=120, env={"PYTHONPATH": str(SRC)})
    assert outcome.problem() is None, outcome.problem()
    assert re.search(expected, outcome.stderr_lines[0]), outcome.stderr_lines[0]
    assert outcome.peak_rss_mb < 400, outcome.peak_rss_mb
    assert not (tmp_path / "out").exists()


def test_without_the_onnx_package_the_error_names_the_extra(tmp_path: Path) -> None:
    cfg, weights = _model(tmp_path)
    code = (
        "from pathlib import Path\n"
        "from edgeloop.convert import ConvertOptions, convert_model\n"
        "from edgeloop.errors import ModelImportError\n"
        "try:\n"
        f"    convert_model(Path({str(cfg)!r}), Path({str(tmp_path / 'out')!r}), "
        f"ConvertOptions(weights=Path({str(weights)!r})))\n"
        "except ModelImportError as exc:\n"
        "    print(exc)\n"
    )
    result = run_without(("onnx",), code)
    assert "pip install 'edgeloop[darknet]'" in result.stdout, result.stderr[-1000:]
