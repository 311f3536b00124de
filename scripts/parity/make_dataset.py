#!/usr/bin/env python3
"""Deterministic synthetic object-detection data (numpy + OpenCV only).

Draws solid circles, squares and triangles with random colours, sizes and
positions onto noisy / textured backgrounds and writes:

  * a YOLO-format training set  (<out>/dataset/{images,labels}/{train,val},
    <out>/dataset/data.yaml)
  * a handful of test JPEGs of assorted sizes/aspect ratios (<out>/images/),
    including one carrying an EXIF orientation tag (exif_rot6.jpg).

Usage:  python make_dataset.py [--out parity-work] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import cv2
import numpy as np

CLASSES = ["circle", "square", "triangle"]

# Test images: objects are sized relative to the *long* side so that, after
# letterboxing to the model input, they span roughly the same pixel range as the
# objects the models saw in training (320px images, objects 15-40% of the side,
# shrunk further by mosaic/scale augmentation).
TEST_SIZE_RANGE = (0.08, 0.22)

# Test image sizes as (width, height).
TEST_SIZES = [
    (640, 480),
    (480, 640),
    (1280, 720),
    (300, 500),
    (1000, 1000),
    (200, 150),
    (1920, 1080),
    (333, 777),
]


# --------------------------------------------------------------------------- #
# Drawing helpers
# --------------------------------------------------------------------------- #
def random_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Return a BGR uint8 background: gradient / stripes / blobs plus noise."""
    kind = rng.integers(0, 3)
    base = rng.integers(0, 256, size=3).astype(np.float32)
    other = rng.integers(0, 256, size=3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # linear gradient in a random direction
        ang = rng.uniform(0, np.pi)
        t = np.cos(ang) * xx / w + np.sin(ang) * yy / h
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 1:  # sinusoidal stripes
        ang = rng.uniform(0, np.pi)
        freq = rng.uniform(4, 20) / max(w, h)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(ang) * xx + np.sin(ang) * yy))
    else:  # smooth random blobs (upsampled low-res noise)
        lo = rng.random((max(2, h // 40), max(2, w // 40))).astype(np.float32)
        t = cv2.resize(lo, (w, h), interpolation=cv2.INTER_CUBIC)
        t = np.clip(t, 0, 1)
    img = base[None, None, :] * (1 - t[..., None]) + other[None, None, :] * t[..., None]
    img += rng.normal(0, rng.uniform(5, 25), size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def contrasting_colour(rng: np.random.Generator, bg_mean: np.ndarray) -> tuple[int, int, int]:
    """Random colour that differs reasonably from the local background mean."""
    for _ in range(20):
        c = rng.integers(0, 256, size=3)
        if np.abs(c.astype(np.float32) - bg_mean).sum() > 120:
            break
    return int(c[0]), int(c[1]), int(c[2])


def draw_object(
    img: np.ndarray, rng: np.random.Generator, cls: int, cx: float, cy: float, size: float
) -> tuple[float, float, float, float]:
    """Draw one shape centred at (cx, cy) with nominal side/diameter `size`.

    Returns the tight axis-aligned box (x1, y1, x2, y2) in pixels.
    """
    h, w = img.shape[:2]
    r = size / 2.0
    x1i, y1i = int(max(cx - r, 0)), int(max(cy - r, 0))
    x2i, y2i = int(min(cx + r, w)), int(min(cy + r, h))
    bg_mean = img[y1i : max(y2i, y1i + 1), x1i : max(x2i, x1i + 1)].reshape(-1, 3).mean(0)
    colour = contrasting_colour(rng, bg_mean)

    if cls == 0:  # circle
        cv2.circle(img, (round(cx), round(cy)), round(r), colour, -1, cv2.LINE_AA)
        pts = np.array([[cx - r, cy - r], [cx + r, cy + r]])
    elif cls == 1:  # square, slightly rotated
        ang = np.deg2rad(rng.uniform(-15, 15))
        corners = np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        pts = corners @ rot.T + [cx, cy]
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
    else:  # triangle (roughly equilateral, random rotation)
        ang0 = rng.uniform(0, 2 * np.pi)
        angs = ang0 + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([cx + r * np.cos(angs), cy + r * np.sin(angs)], 1)
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)

    x1, y1 = np.clip(pts.min(0), 0, [w, h])
    x2, y2 = np.clip(pts.max(0), 0, [w, h])
    return float(x1), float(y1), float(x2), float(y2)


def make_image(
    rng: np.random.Generator,
    w: int,
    h: int,
    size_range: tuple[float, float] = (0.15, 0.40),
    relative_to: str = "min",
) -> tuple[np.ndarray, list]:
    """Render one image with 2-6 shapes; returns (BGR image, [(cls, x1, y1, x2, y2), ...]).

    Object size is drawn uniformly from `size_range` times the image's shorter
    (relative_to="min") or longer (relative_to="max") side, capped to fit.
    """
    img = random_background(rng, w, h)
    n = int(rng.integers(2, 7))
    side = min(w, h) if relative_to == "min" else max(w, h)
    placed: list[tuple[float, float, float]] = []  # (cx, cy, r) for overlap control
    objs = []
    for _ in range(n):
        for _attempt in range(30):
            size = min(rng.uniform(*size_range) * side, 0.9 * min(w, h))
            r = size / 2
            cx = rng.uniform(r, w - r)
            cy = rng.uniform(r, h - r)
            # allow modest overlap only, so labels stay meaningful
            if all(np.hypot(cx - px, cy - py) > 0.7 * (r + pr) for px, py, pr in placed):
                break
        else:
            continue
        cls = int(rng.integers(0, len(CLASSES)))
        box = draw_object(img, rng, cls, cx, cy, size)
        placed.append((cx, cy, r))
        objs.append((cls, *box))
    # light global blur sometimes, to vary edge sharpness
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return img, objs


# --------------------------------------------------------------------------- #
# Writers
# --------------------------------------------------------------------------- #
def write_split(rng: np.random.Generator, root: Path, split: str, count: int, size: int) -> None:
    img_dir, lbl_dir = root / "images" / split, root / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img, objs = make_image(rng, size, size)
        name = f"{split}_{i:04d}"
        cv2.imwrite(str(img_dir / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = []
        for cls, x1, y1, x2, y2 in objs:
            xc, yc = (x1 + x2) / 2 / size, (y1 + y2) / 2 / size
            bw, bh = (x2 - x1) / size, (y2 - y1) / size
            lines.append(f"{cls} {xc:.6f} {yc:.6f} {bw:.6f} {bh:.6f}")
        (lbl_dir / f"{name}.txt").write_text("\n".join(lines) + "\n")


def write_data_yaml(root: Path) -> None:
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")


def write_exif_rotated(rng: np.random.Generator, path: Path) -> None:
    """JPEG whose stored pixels are rotated; EXIF Orientation=6 says 'rotate 90° CW to display'.

    The upright scene is 640x480 (landscape). Stored pixels are that scene rotated
    90° counter-clockwise (480 wide x 640 high), so a viewer honouring the tag
    shows the upright 640x480 scene again.
    """
    import piexif  # optional dependency, only needed for this one image

    upright, _ = make_image(rng, 640, 480, TEST_SIZE_RANGE, "max")
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})
    out = io.BytesIO()
    piexif.insert(exif, buf.tobytes(), out)
    path.write_bytes(out.getvalue())
    # Also keep the upright rendering for visual reference (not a test input),
    # outside the test-image folder so globbing *.jpg / * there stays clean.
    aux = path.parent.parent / "aux"
    aux.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(aux / "exif_rot6_upright_reference.png"), upright)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="parity-work", type=Path)
    ap.add_argument("--seed", default=0, type=int)
    ap.add_argument("--n-train", default=300, type=int)
    ap.add_argument("--n-val", default=60, type=int)
    ap.add_argument("--size", default=320, type=int, help="train/val image side")
    ap.add_argument("--test-only", action="store_true", help="only (re)write the test images")
    args = ap.parse_args()

    ds = args.out / "dataset"
    if args.test_only:
        print("--test-only: leaving the training set untouched")
    else:
        write_split(np.random.default_rng(args.seed), ds, "train", args.n_train, args.size)
        write_split(np.random.default_rng(args.seed + 1), ds, "val", args.n_val, args.size)
        write_data_yaml(ds)

    test_dir = args.out / "images"
    test_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed + 2)
    for w, h in TEST_SIZES:
        img, _ = make_image(rng, w, h, TEST_SIZE_RANGE, "max")
        cv2.imwrite(str(test_dir / f"test_{w}x{h}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    try:
        write_exif_rotated(rng, test_dir / "exif_rot6.jpg")
    except ImportError:
        print("piexif not installed: skipping exif_rot6.jpg")
    print(f"dataset -> {ds}\ntest images -> {test_dir}")


if __name__ == "__main__":
    main()
