"""Deterministic synthetic datasets: coloured shapes on textured backgrounds.

The zero-data start and the test fixture. Shapes vary in colour, scale and
rotation, and later shapes may partly cover earlier ones (never more than
``MAX_COVER`` of a box, so every label stays learnable). Same seed, same
arguments: the same pixels and labels, because only numpy's seeded generator
and OpenCV drawing are involved and images are saved as lossless PNG.

A :class:`Domain` says how a scene looks (shape colours and sizes, the
background, the lighting). ``DOMAIN_A`` is the default look; ``DOMAIN_B`` a
shifted one with the same classes (smaller, muted shapes on striped, darker,
tinted and noisy scenes), so a model trained on one can be measured on the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset, Item, labelled_boxes, new_output_dir
from edgeloop.errors import DatasetError
from edgeloop.imaging import ImageArray
from edgeloop.optional import require_opencv

cv2 = require_opencv("synthetic datasets", "data")

# Corner count of each polygon shape (0: a circle); the first three are the default classes.
SHAPE_CORNERS = {"square": 4, "circle": 0, "triangle": 3, "pentagon": 5, "hexagon": 6, "star": 10}
SHAPES = ("square", "circle", "triangle")
MAX_OBJECTS = 4
MAX_COVER = 0.25  # largest share of an earlier box a later shape may cover
MIN_CONTRAST = 90  # smallest L1 distance between a shape's colour and the background under it


@dataclass(frozen=True)
class Domain:
    """How a synthetic scene looks; the classes are chosen separately, so two domains share them.

    Attributes:
        name: a short label for reports.
        colour: shape colour channels are drawn from ``[low, high)``.
        min_contrast: smallest L1 distance between a shape's colour and the background under it.
        scale: shape radius as a share of the image side, ``(low, high)``.
        objects: shapes per image, ``(fewest, most)`` (fewer when there is no room).
        background: ``"gradient"`` (a colour ramp with blurred noise) or ``"stripes"`` (that plus
            bars of random angle and period, which look like edges).
        background_level: base background colour channels from ``[low, high)``.
        brightness: added to every pixel after drawing (lighting).
        contrast: every pixel is scaled about mid-grey by this after drawing.
        tint: per-image colour cast; each channel's gain is drawn from ``1 +- tint``.
        noise: standard deviation of per-pixel sensor noise added last.
    """

    name: str = "A"
    colour: tuple[int, int] = (0, 256)
    min_contrast: int = MIN_CONTRAST
    scale: tuple[float, float] = (0.06, 0.2)
    objects: tuple[int, int] = (1, MAX_OBJECTS)
    background: Literal["gradient", "stripes"] = "gradient"
    background_level: tuple[int, int] = (40, 200)
    brightness: float = 0.0
    contrast: float = 1.0
    tint: float = 0.0
    noise: float = 0.0


DOMAIN_A = Domain()
DOMAIN_B = Domain(
    name="B",
    colour=(50, 200),
    min_contrast=60,
    scale=(0.045, 0.12),
    objects=(2, 6),
    background="stripes",
    background_level=(30, 150),
    brightness=-25.0,
    contrast=0.7,
    tint=0.25,
    noise=6.0,
)


def _background(rng: np.random.Generator, size: int, domain: Domain = DOMAIN_A) -> ImageArray:
    """(size, size, 3) uint8: a colour gradient with blurred noise, so shapes are not on a flat field."""
    base = rng.integers(*domain.background_level, 3).astype(np.float32)
    ramp = np.linspace(-30, 30, size, dtype=np.float32)
    gradient = ramp[None, :, None] * rng.uniform(-1, 1, 3).astype(np.float32) + ramp[:, None, None] * 0.5
    noise = rng.normal(0, 25, (size, size, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=float(rng.uniform(0.8, 3.0)))
    field = base + gradient + noise
    if domain.background == "stripes":
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.04, 0.15) * size
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        phase = (xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)
        bars = np.sign(np.sin(phase))[..., None] * rng.uniform(20, 45, 3).astype(np.float32)
        field = field + bars
    return np.clip(field, 0, 255).astype(np.uint8)


def _lighting(image: ImageArray, rng: np.random.Generator, domain: Domain) -> ImageArray:
    """The domain's lighting over a drawn scene; the default domain leaves the pixels as they are."""
    if domain.brightness == 0 and domain.contrast == 1 and domain.tint == 0 and domain.noise == 0:
        return image
    gain = rng.uniform(1 - domain.tint, 1 + domain.tint, 3).astype(np.float32)
    lit = (image.astype(np.float32) - 128) * domain.contrast + 128 + domain.brightness
    lit = lit * gain
    if domain.noise > 0:
        lit = lit + rng.normal(0, domain.noise, image.shape).astype(np.float32)
    return np.clip(np.round(lit), 0, 255).astype(np.uint8)


def _polygon(kind: str, centre: tuple[float, float], radius: float, angle: float) -> npt.NDArray[np.int32]:
    """Integer corner points of a regular polygon (a star alternates two radii)."""
    corners = SHAPE_CORNERS[kind]
    steps = np.arange(corners) * 2 * np.pi / corners + angle
    radii = np.full(corners, radius)
    if kind == "star":
        radii[1::2] = radius * 0.45
    xs = centre[0] + radii * np.cos(steps)
    ys = centre[1] + radii * np.sin(steps)
    return np.round(np.stack((xs, ys), 1)).astype(np.int32)


def _outline(
    kind: str, size: int, rng: np.random.Generator, scale: tuple[float, float]
) -> tuple[npt.NDArray[np.int32] | None, tuple[int, int, int], list[float]]:
    """Where one shape goes: polygon points (None for a circle), circle (x, y, r), and its xyxy box."""
    radius = float(rng.uniform(*scale) * size)
    low, high = radius + 2, size - radius - 2  # rounded corners and circles stay inside the image
    centre = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
    if kind == "circle":
        x, y, r = round(centre[0]), round(centre[1]), round(radius)
        return None, (x, y, r), [x - r, y - r, x + r + 1, y + r + 1]
    points = _polygon(kind, centre, radius, float(rng.uniform(0, 2 * np.pi)))
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    # Drawn pixels span the corners inclusively.
    return points, (0, 0, 0), [float(x1), float(y1), float(x2 + 1), float(y2 + 1)]


def _cover(box: list[float], other: list[float]) -> float:
    """Share of ``other``'s area that ``box`` covers."""
    w = min(box[2], other[2]) - max(box[0], other[0])
    h = min(box[3], other[3]) - max(box[1], other[1])
    area = (other[2] - other[0]) * (other[3] - other[1])
    return max(w, 0) * max(h, 0) / area


def _colour(
    image: ImageArray, box: list[float], rng: np.random.Generator, domain: Domain = DOMAIN_A
) -> tuple[int, int, int]:
    """A random colour that stands out from the background under ``box``."""
    x1, y1, x2, y2 = (int(v) for v in box)
    under = image[y1:y2, x1:x2].reshape(-1, 3).mean(0)
    colour = rng.integers(*domain.colour, 3)
    for _ in range(20):
        if np.abs(colour - under).sum() >= domain.min_contrast:
            break
        colour = rng.integers(*domain.colour, 3)
    return int(colour[0]), int(colour[1]), int(colour[2])


def _draw_image(
    rng: np.random.Generator, size: int, names: Sequence[str], domain: Domain
) -> tuple[ImageArray, list[list[float]], list[int]]:
    image = _background(rng, size, domain)
    boxes: list[list[float]] = []
    classes: list[int] = []
    for _ in range(int(rng.integers(domain.objects[0], domain.objects[1] + 1))):
        cls = int(rng.integers(0, len(names)))
        for _attempt in range(10):
            points, circle, box = _outline(names[cls], size, rng, domain.scale)
            if all(_cover(box, other) <= MAX_COVER for other in boxes):
                break
        else:
            continue  # no room left for another shape in this image
        colour = _colour(image, box, rng, domain)
        if points is None:
            cv2.circle(image, circle[:2], circle[2], colour, thickness=-1, lineType=cv2.LINE_8)
        else:
            cv2.fillPoly(image, [points], colour, lineType=cv2.LINE_8)
        boxes.append(box)
        classes.append(cls)
    return _lighting(image, rng, domain), boxes, classes


def _check(images: int, size: int, names: Sequence[str]) -> tuple[str, ...]:
    if images < 1 or not 32 <= size <= 4096:
        raise DatasetError("synth needs --images >= 1 and --size between 32 and 4096")
    unknown = [n for n in names if n not in SHAPE_CORNERS]
    if unknown or not names or len(set(names)) != len(names):
        raise DatasetError(
            f"synth classes must be distinct shapes from {', '.join(SHAPE_CORNERS)}; got {', '.join(names)}"
        )
    return tuple(names)


def _write(path: Path, image: ImageArray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise DatasetError(f"{path}: could not write the image; check free space")


def synth_detection(
    out: Path,
    images: int = 100,
    size: int = 320,
    seed: int = 0,
    classes: Sequence[str] = SHAPES,
    domain: Domain = DOMAIN_A,
) -> Dataset:
    """Write a YOLO detection dataset of ``images`` PNGs of ``size`` x ``size`` pixels to a new folder.

    In ``DOMAIN_A`` shapes are 12-40 % of the image across; boxes fit the drawn pixels exactly
    (lighting changes pixel values, never where a shape is).

    Raises:
        DatasetError: bad counts, sizes or class names, or ``out`` is not a new folder.
    """
    names = _check(images, size, classes)
    from edgeloop.data.formats.yolo import write_annotations

    new_output_dir(out)
    rng = np.random.default_rng(seed)
    items = []
    for index in range(images):
        image, boxes, labels = _draw_image(rng, size, names, domain)
        name = f"synth_{index:05d}.png"
        _write(out / "images" / name, image)
        items.append(Item(out / "images" / name, name, (size, size), labelled_boxes(boxes, labels, names)))
    ds = Dataset(names, tuple(items), "detect")
    write_annotations(ds, out)
    return ds


def synth_classification(
    out: Path, images: int = 100, size: int = 128, seed: int = 0, classes: Sequence[str] = SHAPES
) -> Dataset:
    """Write a class-folders classification dataset: one large shape per image, ``out/<class>/*.png``.

    Class ids follow the sorted class names, as the class-folders format reads them.

    Raises:
        DatasetError: bad counts, sizes or class names, or ``out`` is not a new folder.
    """
    names = tuple(sorted(_check(images, size, classes)))  # class folders are read back in sorted order
    if images < len(names):
        raise DatasetError(f"synth needs --images >= {len(names)} for one image of each class")
    new_output_dir(out)
    rng = np.random.default_rng(seed)
    items = []
    for index in range(images):
        label = index % len(names)  # balanced classes
        image = _background(rng, size)
        points, circle, box = _outline(names[label], size, rng, (0.2, 0.4))
        colour = _colour(image, box, rng)
        if points is None:
            cv2.circle(image, circle[:2], circle[2], colour, thickness=-1, lineType=cv2.LINE_8)
        else:
            cv2.fillPoly(image, [points], colour, lineType=cv2.LINE_8)
        name = f"{names[label]}/synth_{index:05d}.png"
        _write(out / name, image)
        items.append(Item(out / name, name, (size, size), label=label))
    return Dataset(names, tuple(items), "classify")
