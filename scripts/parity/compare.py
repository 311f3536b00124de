#!/usr/bin/env python
"""Check that `edgeloop import` + `edgeloop predict` reproduce Ultralytics' predictions.

Input: a reference JSON written by `make_reference.py` (run in a separate,
throwaway environment with Ultralytics installed), the ONNX models it used and
the images. For every model this script runs the real commands

    edgeloop import MODEL.onnx --out BUNDLE
    edgeloop predict BUNDLE IMAGES... --json --conf C --iou I

and matches our boxes to the reference boxes one-to-one (greedy by IoU, same
class). A reference box counts as reproduced when its match has IoU >= 0.9
and a confidence within 0.02. It prints, per model, the share of reference
boxes reproduced and the share of our boxes that match a reference box, and
exits non-zero when either is below 98%.

    python scripts/parity/compare.py --reference ref/reference.json \
        --models ref/models --images ref/images
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

IOU_MIN, CONF_TOL, SHARE_MIN = 0.9, 0.02, 0.98


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(ref: list[dict], ours: list[dict]) -> tuple[int, int, list[float], list[float]]:
    """(reference boxes reproduced, our boxes matched, IoUs, |confidence differences|)."""
    ref_xyxy = np.array([r["xyxy"] for r in ref], float).reshape(-1, 4)
    our_xyxy = np.array([o["xyxy"] for o in ours], float).reshape(-1, 4)
    iou = iou_matrix(ref_xyxy, our_xyxy)
    same_class = np.array([[r["class_id"] == o["class_id"] for o in ours] for r in ref]).reshape(iou.shape)
    iou = np.where(same_class, iou, 0.0)
    used_ref, used_our = set(), set()
    ious, dconf = [], []
    reproduced = 0
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] <= 0 or i in used_ref or j in used_our:
            continue
        used_ref.add(i)
        used_our.add(j)
        diff = abs(ref[i]["confidence"] - ours[j]["confidence"])
        ious.append(float(iou[i, j]))
        dconf.append(diff)
        if iou[i, j] >= IOU_MIN and diff <= CONF_TOL:
            reproduced += 1
    return reproduced, reproduced, ious, dconf


def to_xyxy(prediction: dict) -> dict:
    x, y, w, h = prediction["x"], prediction["y"], prediction["width"], prediction["height"]
    return {
        "xyxy": [x - w / 2, y - h / 2, x + w / 2, y + h / 2],
        "confidence": prediction["confidence"],
        "class_id": prediction["class_id"],
    }


def run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{result.stderr}")
    return result.stdout


def check_model(name: str, spec: dict, models: Path, images: Path, workdir: Path, extra: list[str]) -> bool:
    bundle = workdir / f"bundle-{Path(name).stem}"
    run([sys.executable, "-m", "edgeloop", "import", str(models / name), "--out", str(bundle)])
    files = [str(images / image) for image in spec["images"]]
    out = run(
        [
            sys.executable,
            "-m",
            "edgeloop",
            "predict",
            str(bundle),
            *files,
            "--json",
            "--conf",
            str(spec["conf"]),
            "--iou",
            str(spec["iou"]),
            *extra,
        ]
    )
    ours_by_image = {
        Path(rec["source"]).name: [to_xyxy(p) for p in rec["predictions"]]
        for rec in map(json.loads, out.splitlines())
    }
    total_ref = total_ours = reproduced = 0
    all_ious: list[float] = []
    all_dconf: list[float] = []
    for image, ref in spec["images"].items():
        ours = ours_by_image.get(image, [])
        ref_boxes = ref["boxes"]
        rep, _, ious, dconf = match(ref_boxes, ours)
        total_ref += len(ref_boxes)
        total_ours += len(ours)
        reproduced += rep
        all_ious += ious
        all_dconf += dconf
        flag = "" if rep == len(ref_boxes) == len(ours) else "  <- differs"
        print(f"  {image:<22} ref {len(ref_boxes):>3}  ours {len(ours):>3}  reproduced {rep:>3}{flag}")
    share_ref = reproduced / max(total_ref, 1)
    share_ours = reproduced / max(total_ours, 1)
    ok = share_ref >= SHARE_MIN and share_ours >= SHARE_MIN and total_ref > 0
    print(
        f"  => {name}: {reproduced}/{total_ref} reference boxes reproduced ({share_ref:.1%}), "
        f"{reproduced}/{total_ours} of ours matched ({share_ours:.1%}); "
        f"min IoU {min(all_ious, default=0):.4f}, max |dconf| {max(all_dconf, default=0):.4f}"
        f"  {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--fast-decode", action="store_true", help="pass --fast-decode to predict")
    args = parser.parse_args()
    reference = json.loads(args.reference.read_text())
    print(f"reference: Ultralytics {reference.get('ultralytics_version', '?')}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in reference["models"].items():
            print(f"{name} (imgsz {spec['imgsz']}, conf {spec['conf']}, iou {spec['iou']})")
            extra = ["--fast-decode"] if args.fast_decode else []
            results.append(check_model(name, spec, args.models, args.images, Path(tmp), extra))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
