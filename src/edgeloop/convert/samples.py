"""Golden-sample images for imported models: the user's, or synthetic ones made here.

Synthetic samples are seeded scenes of filled shapes on textured backgrounds, so a
detector's outputs vary across the image and the check exercises every output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.data.dataset import list_images
from edgeloop.errors import ModelImportError
from edgeloop.imaging import ImageArray, write_image


def synthetic_image(size_hw: tuple[int, int], seed: int) -> ImageArray:
    """One HxWx3 uint8 BGR scene: a smooth gradient, noise and a few filled rectangles."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), (x + y) / max(h + w - 2, 1)], axis=-1) * 160
    image = base + rng.normal(0, 12, (h, w, 3))
    for _ in range(int(rng.integers(3, 7))):
        bh, bw = int(rng.integers(h // 10 + 1, h // 2 + 2)), int(rng.integers(w // 10 + 1, w // 2 + 2))
        top, left = int(rng.integers(0, max(h - bh, 1))), int(rng.integers(0, max(w - bw, 1)))
        image[top : top + bh, left : left + bw] = rng.integers(0, 256, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def sample_images(folder: Path | None, count: int, size_hw: tuple[int, int], work: Path) -> list[Path]:
    """Up to ``count`` image files: the first of ``folder`` (sorted), else synthetic PNGs in ``work``.

    Raises:
        ModelImportError: ``folder`` holds no images.
    """
    if folder is not None:
        images = sorted(list_images(folder)) if folder.is_dir() else []
        if not images:
            raise ModelImportError(f"--samples {folder}: no images there; give a folder of .jpg/.png files")
        return images[:count]
    out = work / "samples"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = out / f"synthetic-{i}.png"
        write_image(path, synthetic_image(size_hw, seed=1000 + i))
        paths.append(path)
    return paths
