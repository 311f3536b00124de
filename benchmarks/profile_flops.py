#!/usr/bin/env python
"""Check `edgeloop profile`'s FLOPs against published numbers and a second counter.

1. Each ``--model PATH=GFLOPS`` (e.g. an Ultralytics ``yolo11n.onnx`` exported
   at 640, published 6.5 GFLOPs): our count against the published one.
2. Our nano model (``random_yolo``, 640): our Conv/MatMul/Gemm MACs against
   onnx-tool's (``pip install onnx-tool``; skipped when absent).

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


def onnx_tool_macs(path: Path) -> float | None:
    try:
        import onnx_tool
    except ImportError:
        return None
    model = onnx_tool.Model(str(path))
    model.graph.graph_reorder_nodes()
    model.graph.shape_infer()
    model.graph.profile()
    total = 0.0
    for node in model.graph.nodemap.values():
        if node.op_type in ("Conv", "MatMul", "Gemm"):
            total += node.macs[0] if isinstance(node.macs, list) else node.macs
    return total


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
        nano = random_yolo(Path(tmp) / "nano.onnx")
        ours = profile_onnx(nano).macs
        theirs = onnx_tool_macs(nano)
    if theirs is None:
        print("onnx-tool not installed: second-counter check skipped")
    else:
        err = 100 * (ours - theirs) / theirs
        ok &= abs(err) <= 5
        print(f"random_yolo 640: {ours / 1e9:.4f} GMACs vs onnx-tool {theirs / 1e9:.4f} ({err:+.2f}%)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
