#!/usr/bin/env python3
"""Run Ultralytics on the exported ONNX models and dump reference detections to JSON.

For every (model, imgsz) pair below and every JPEG in <out>/images/, calls
    YOLO(onnx_path, task="detect").predict(image, conf=0.25, iou=0.7, imgsz=imgsz, device="cpu")
and records result.boxes.xyxy / .conf / .cls in original-image pixel coordinates.

Output: <out>/reference.json
  {
    "ultralytics_version": "...",
    "models": {
      "<onnx file name>": {
        "imgsz": 640, "conf": 0.25, "iou": 0.7,
        "input_shapes":  [[1, 3, 640, 640]],
        "output_shapes": [[1, 7, 8400]],
        "output_names":  ["output0"],
        "metadata": {<ONNX metadata_props>},
        "images": {
          "<image file name>": {
            "width": W, "height": H,              # image as Ultralytics saw it (result.orig_shape)
            "file_width": w, "file_height": h,    # stored JPEG pixel size (before any EXIF rotation)
            "boxes": [{"xyxy": [...], "confidence": c, "class_id": k, "class": name}, ...]
          }, ...
        }
      }, ...
    }
  }

Usage:  python make_reference.py [--out parity-work]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

OUT = Path(os.environ.get("PARITY_OUT", "parity-work"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(OUT / "ultralytics_cfg"))

# (ONNX file name, inference imgsz)
MODELS = [
    ("yolo11n.onnx", 640),
    ("yolo26n.onnx", 640),
    ("yolo11n_320.onnx", 320),
]
CONF, IOU = 0.25, 0.7


def onnx_info(path: Path) -> dict:
    """Static input/output shapes and metadata_props read straight from the ONNX graph."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)

    def dims(vi):
        return [
            d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim
        ]

    return {
        "input_shapes": [dims(i) for i in m.graph.input],
        "output_shapes": [dims(o) for o in m.graph.output],
        "output_names": [o.name for o in m.graph.output],
        "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def stored_size(path: Path) -> tuple[int, int]:
    """(width, height) of the JPEG's stored pixels, ignoring any EXIF orientation."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT, type=Path)
    args = ap.parse_args()

    import ultralytics
    from ultralytics import YOLO

    images = sorted((args.out / "images").glob("*.jpg"))
    ref: dict = {"ultralytics_version": ultralytics.__version__, "models": {}}

    for fname, imgsz in MODELS:
        path = args.out / "models" / fname
        info = onnx_info(path)
        model = YOLO(str(path), task="detect")
        entry = {"imgsz": imgsz, "conf": CONF, "iou": IOU, **info, "images": {}}
        for img_path in images:
            result = model.predict(
                str(img_path), conf=CONF, iou=IOU, imgsz=imgsz, device="cpu", verbose=False, save=False
            )[0]
            h, w = result.orig_shape
            fw, fh = stored_size(img_path)
            b = result.boxes
            boxes = [
                {
                    "xyxy": [float(v) for v in xyxy],
                    "confidence": float(c),
                    "class_id": int(k),
                    "class": result.names[int(k)],
                }
                for xyxy, c, k in zip(b.xyxy.tolist(), b.conf.tolist(), b.cls.tolist(), strict=False)
            ]
            entry["images"][img_path.name] = {
                "width": int(w),
                "height": int(h),
                "file_width": int(fw),
                "file_height": int(fh),
                "boxes": boxes,
            }
        n = [len(v["boxes"]) for v in entry["images"].values()]
        print(f"{fname}: outputs {info['output_shapes']}, boxes/image {n}, mean {sum(n) / len(n):.2f}")
        ref["models"][fname] = entry

    out = args.out / "reference.json"
    out.write_text(json.dumps(ref, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
