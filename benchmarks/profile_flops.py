#!/usr/bin/env python
"""Check `edgeloop profile`'s FLOPs against published numbers and a second counter.

1. Each ``--model PATH=GFLOPS`` (e.g. an Ultralytics ``yolo11n.onnx`` exported
   at 640, published 6.5 GFLOPs): our count against the published one.
2. Our synthetic nano model (``random_yolo``, 640) and the nano detector as
   ``edgeloop export`` writes it (dynamic batch axis; needs torch): our
   Conv/MatMul/Gemm MACs against onnx-tool's (``pip install onnx-tool``;
   skipped when absent).

Target: within 5 % for both.

    python benchmarks/profile_flops.py --model /tmp/yolo11n.onnx=6.5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from edgeloop.hardware.profile import profile_onnx
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.testing.second_counter import onnx_tool_macs


def second_count(path: Path, input_shape: list[int]) -> float | None:
    try:
        return onnx_tool_macs(path, input_shape)
    except ImportError:
        return None


def exported_nano(path: Path, imgsz: int) -> Path | None:
    """The nano detector as `edgeloop export` writes it (untrained; dynamic batch axis), if torch is here."""
    try:
        from edgeloop.export.onnx import _onnx_export
        from edgeloop.train.model import Detector, DetectorExport
    except ImportError:
        return None
    _onnx_export(DetectorExport(Detector(3, "nano").eval(), (imgsz, imgsz)).eval(), imgsz, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", default=[], help="PATH=PUBLISHED_GFLOPS")
    args = parser.parse_args()
    ok = True
    for item in args.model:
        path, published = item.rsplit("=", 1)
        p = profile_onnx(path)
        err = 100 * (p.gflops - float(published)) / float(published)
        ok &= abs(err) <= 5
        print(f"{path}: {p.gflops:.3f} GFLOPs vs published {published} ({err:+.2f}%), params {p.params:,}")
    with tempfile.TemporaryDirectory() as tmp:
        models = {"random_yolo 640": random_yolo(Path(tmp) / "nano.onnx")}
        exported = exported_nano(Path(tmp) / "exported.onnx", 640)
        if exported is None:
            print("torch not installed: the exported-model check is skipped")
        else:
            models["edgeloop export nano 640"] = exported
        for name, path in models.items():
            profile = profile_onnx(path)
            ours, theirs = profile.macs, second_count(path, profile.input_shape)
            if theirs is None:
                print("onnx-tool not installed: second-counter check skipped")
                break
            err = 100 * (ours - theirs) / theirs
            ok &= abs(err) <= 5 and not profile.unshaped_layers
            print(f"{name}: {ours / 1e9:.4f} GMACs vs onnx-tool {theirs / 1e9:.4f} ({err:+.2f}%)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
