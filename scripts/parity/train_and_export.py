#!/usr/bin/env python3
"""Train small YOLO detectors from scratch on the synthetic data and export them to ONNX.

No pretrained weights are used (models are built from Ultralytics' YAML configs),
and everything is set up to avoid network access at run time:
  * YOLO_OFFLINE=1, and a private YOLO_CONFIG_DIR under the output folder,
  * a local TTF font copied in as Arial.ttf (Ultralytics' default plotting font),
  * amp=False (the AMP check would fetch yolo11n.pt), plots=False.

Usage (the commands that produced parity-work/models; ~20 min each on 2 CPU cores):
  python train_and_export.py --model yolo11n --epochs 30 --also-320
  python train_and_export.py --model yolo26n --epochs 30 --time-hours 0.3   # ran 25 epochs
  python train_and_export.py --model yolo11n --export-only   # re-export existing best.pt
  python train_and_export.py --model yolo26n --export-only --revalidate

Outputs:
  <out>/runs/<model>/weights/best.pt           trained weights
  <out>/models/<model>.onnx                    exported at imgsz=640
  <out>/models/<model>_320.onnx                exported at imgsz=320 (with --also-320)
  <out>/runs/<model>/val_metrics.json          final val metrics
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

OUT = Path(os.environ.get("PARITY_OUT", "parity-work"))

# Must be set before ultralytics is imported.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(OUT / "ultralytics_cfg"))


def provide_local_font() -> None:
    """Put a system TTF where Ultralytics looks for Arial.ttf, so it never downloads one."""
    cfg = Path(os.environ["YOLO_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    candidates = [
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        *Path("/usr/share/fonts").rglob("*.ttf"),
    ]
    for src in candidates:
        if src.is_file():
            for name in ("Arial.ttf", "Arial.Unicode.ttf"):
                dst = cfg / name
                if not dst.exists():
                    shutil.copyfile(src, dst)
            return


def export_onnx(weights: Path, imgsz: int, dest: Path) -> Path:
    """Export `weights` to ONNX (opset 17, static shapes, no onnxslim) and copy it to `dest`."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    extra = {}
    # NMS-free models (YOLO26, YOLOv10) carry a one-to-one head. In Ultralytics 8.4.x
    # export's `nms` defaults to None = "raw one-to-many output, NMS done externally"
    # (shape [1, 4+nc, N], like YOLO11); nms=False selects the end-to-end one-to-one
    # branch instead, whose output is [1, max_det=300, 6] = (x1, y1, x2, y2, conf, cls).
    if getattr(model.model.model[-1], "one2one_cv2", None) is not None:
        extra["nms"] = False
    produced = model.export(
        format="onnx", imgsz=imgsz, opset=17, simplify=False, dynamic=False, device="cpu", **extra
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(produced, dest)
    return dest


def describe_onnx(path: Path) -> dict:
    """Input/output shapes and metadata_props of an ONNX file."""
    import onnx

    m = onnx.load(str(path))

    def dims(vi):
        return [
            d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim
        ]

    return {
        "inputs": {i.name: dims(i) for i in m.graph.input},
        "outputs": {o.name: dims(o) for o in m.graph.output},
        "opset": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def validate(weights: Path, args) -> dict:
    """Val metrics of the trained weights; for dual-head (NMS-free) models, of both heads."""
    from ultralytics import YOLO

    def run(**kw) -> dict:
        m = YOLO(str(weights)).val(
            data=args.data,
            imgsz=args.imgsz,
            device="cpu",
            plots=False,
            batch=args.batch,
            workers=2,
            verbose=False,
            **kw,
        )
        return {
            "mAP50": float(m.box.map50),
            "mAP50-95": float(m.box.map),
            "precision": float(m.box.mp),
            "recall": float(m.box.mr),
        }

    head = YOLO(str(weights)).model.model[-1]
    if getattr(head, "one2one_cv2", None) is None:
        return run()
    # In Ultralytics 8.4.x, nms=False selects the one-to-one (NMS-free) head; the
    # default (None) evaluates the one-to-many head followed by regular NMS.
    return {"one2one_end2end": run(nms=False), "one2many_nms": run()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="config stem, e.g. yolo11n or yolo26n")
    ap.add_argument("--data", default=str(OUT / "dataset" / "data.yaml"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=320, help="training image size")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--time-hours",
        type=float,
        default=None,
        help="optional wall-clock cap; Ultralytics then rescales the epoch count to fit",
    )
    ap.add_argument("--also-320", action="store_true", help="also export at imgsz=320")
    ap.add_argument("--export-only", action="store_true", help="skip training, export existing best.pt")
    ap.add_argument("--revalidate", action="store_true", help="with --export-only: re-run val too")
    args = ap.parse_args()

    provide_local_font()
    from ultralytics import YOLO

    run_dir = OUT / "runs" / args.model
    weights = run_dir / "weights" / "best.pt"

    summary_path = run_dir / "val_metrics.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {"model": args.model}
    if not args.export_only:
        t0 = time.time()
        model = YOLO(f"{args.model}.yaml")  # random init from the bundled YAML
        model.train(
            data=args.data,
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            device="cpu",
            workers=2,
            amp=False,
            plots=False,
            cache="ram",
            project=str(OUT / "runs"),
            name=args.model,
            exist_ok=True,
            seed=args.seed,
            deterministic=True,
            pretrained=False,
            verbose=True,
            patience=0,  # no early stopping; train the full schedule
            time=args.time_hours,
        )
        summary = {
            "model": args.model,
            "epochs_requested": args.epochs,
            "time_hours": args.time_hours,
            "train_seconds": round(time.time() - t0, 1),
        }
    if not args.export_only or args.revalidate:
        summary.update(validate(weights, args))
        summary_path.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))

    exports = [(640, OUT / "models" / f"{args.model}.onnx")]
    if args.also_320:
        exports.append((320, OUT / "models" / f"{args.model}_320.onnx"))
    for imgsz, dest in exports:
        export_onnx(weights, imgsz, dest)
        print(dest, json.dumps(describe_onnx(dest), indent=2))


if __name__ == "__main__":
    main()
