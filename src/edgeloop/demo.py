"""The end-to-end demo behind ``make demo``: everything generated locally.

It writes a tiny ONNX colour detector (red, green and blue regions become
boxes), imports it as a bundle, checks and packs the bundle, then predicts on
generated images and writes annotated copies and JSONL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from edgeloop.bundle import load_bundle, pack
from edgeloop.imaging import draw_detections
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.preprocess import letterbox
from edgeloop.types import Detections

console = Console(stderr=True, highlight=False)


def demo_images(imgsz: int, stride: int, count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Grey scenes of varied sizes with pure red, green and blue rectangles (BGR).

    The rectangles are placed on the model's grid (in letterboxed coordinates)
    because the demo detector snaps box edges to that grid.
    """
    rng = np.random.default_rng(seed)
    sizes = [(480, 640), (720, 1280), (640, 480), (500, 500)]
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
    images = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        image = np.full((h, w, 3), 128, np.uint8)
        image += rng.integers(0, 12, image.shape, dtype=np.uint8)
        _, t = letterbox(image, (imgsz, imgsz))
        cells_x = int((imgsz - 2 * t.pad_xy[0]) // stride)
        cells_y = int((imgsz - 2 * t.pad_xy[1]) // stride)
        first_x, first_y = -(-t.pad_xy[0] // stride), -(-t.pad_xy[1] // stride)
        occupied = np.zeros((cells_y, cells_x), bool)
        for _ in range(int(rng.integers(2, 5))):
            cw, ch = int(rng.integers(2, cells_x // 3)), int(rng.integers(2, cells_y // 3))
            cx, cy = int(rng.integers(0, cells_x - cw - 1)), int(rng.integers(0, cells_y - ch - 1))
            if occupied[max(cy - 1, 0) : cy + ch + 1, max(cx - 1, 0) : cx + cw + 1].any():
                continue  # keep rectangles apart
            occupied[cy : cy + ch, cx : cx + cw] = True
            x1, y1 = (
                ((first_x + cx) * stride - t.pad_xy[0]) / t.gain_xy[0],
                ((first_y + cy) * stride - t.pad_xy[1]) / t.gain_xy[1],
            )
            x2, y2 = x1 + cw * stride / t.gain_xy[0], y1 + ch * stride / t.gain_xy[1]
            image[round(y1) : round(y2), round(x1) : round(x2)] = colours[int(rng.integers(0, 3))]
        images.append(image)
    return images


def run_demo(out: Path) -> None:
    """Run the demo into ``out`` (replaced if it exists)."""
    from edgeloop.export.synthetic import colour_detector

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    console.print("[bold]1.[/] writing a small ONNX colour detector")
    imgsz, stride = 320, 16
    model = colour_detector(out / "colour-detector.onnx", imgsz=(imgsz, imgsz), stride=stride)
    console.print(f"   {model}")
    console.print("[bold]2.[/] edgeloop import: ONNX -> bundle (names, size and family read from the model)")
    bundle = import_onnx(model, out / "bundle")
    m = bundle.manifest
    console.print(f"   bundle '{m.name}': {m.task}, family {m.family}, classes {m.names}")
    archive = pack(bundle.root, out / "colour-detector.tar")
    console.print(f"[bold]3.[/] packed and verified: {archive} ({archive.stat().st_size / 1e3:.0f} kB)")
    console.print("[bold]4.[/] predicting on generated images")
    images_dir, annotated_dir = out / "images", out / "annotated"
    images_dir.mkdir()
    annotated_dir.mkdir()
    lines = []
    with Predictor(load_bundle(archive)) as predictor:
        for i, image in enumerate(demo_images(imgsz, stride)):
            path = images_dir / f"scene{i}.jpg"
            cv2.imwrite(str(path), image)
            result, timing = predictor.predict_timed(path)
            assert isinstance(result, Detections)
            cv2.imwrite(str(annotated_dir / path.name), draw_detections(predictor.load_image(path), result))
            lines.append(
                json.dumps(
                    {
                        "source": str(path),
                        **result.to_json((image.shape[1], image.shape[0]), timing.total_s),
                    }
                )
            )
            counts = {n: int((result.class_id == k).sum()) for k, n in enumerate(result.names)}
            console.print(
                f"   {path.name} {image.shape[1]}x{image.shape[0]}: {len(result)} boxes {counts} "
                f"in {timing.total_s * 1e3:.1f} ms"
            )
    (out / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    console.print(
        f"[bold green]done:[/] annotated images in {annotated_dir}, JSONL in {out / 'predictions.jsonl'}"
    )
    console.print(f"   try: edgeloop predict {bundle.root} {images_dir} --json")
