"""TensorRT engine planning that needs no TensorRT: optimization-profile shapes and cache files.

Pure functions (apart from one look for ``bundle.json``), so machines without a
GPU test them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeloop.errors import BackendError

SizeHW = tuple[int, int]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class ProfileSettings:
    """What the dynamic axes of a model may hold in one engine (from ``TensorRtConfig``)."""

    max_batch: int = 1
    opt_batch: int = 1
    min_hw: SizeHW | None = None
    opt_hw: SizeHW | None = None
    max_hw: SizeHW | None = None

    def label(self) -> str:
        """A stable text of these settings, for cache keys."""
        hw = "-".join("x".join(map(str, s)) if s else "any" for s in (self.min_hw, self.opt_hw, self.max_hw))
        return f"batch{self.opt_batch}of{self.max_batch}-hw{hw}"


@dataclass(frozen=True)
class ShapeRange:
    """The min / opt / max shapes of one input in a TensorRT optimization profile."""

    name: str
    min: Shape
    opt: Shape
    max: Shape

    @property
    def dynamic(self) -> bool:
        """Whether the engine accepts more than one shape for this input."""
        return self.min != self.max

    def accepts(self, shape: Sequence[int]) -> bool:
        """Whether ``shape`` lies within the profile."""
        return len(shape) == len(self.min) and all(
            lo <= d <= hi for lo, d, hi in zip(self.min, shape, self.max, strict=True)
        )

    def describe(self) -> str:
        """``(1..8, 3, 640, 640)``: each axis as a value or a range."""
        axes = [str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in zip(self.min, self.max, strict=True)]
        return "(" + ", ".join(axes) + ")"

    def reported(self) -> tuple[int | None, ...]:
        """The shape for ``TensorSpec``: None on each axis that varies."""
        return tuple(lo if lo == hi else None for lo, hi in zip(self.min, self.max, strict=True))


def _hw_axes(shape: Shape) -> tuple[int, int] | None:
    """The height and width axes of an image input: NCHW or NHWC, told by the small channel axis."""
    if len(shape) != 4:
        return None
    if 0 < shape[1] <= 4:
        return (2, 3)
    if 0 < shape[3] <= 4:
        return (1, 2)
    return None


def shape_range(name: str, shape: Sequence[int], settings: ProfileSettings) -> ShapeRange:
    """The profile of one network input whose dynamic axes are -1 (as TensorRT reports them).

    Axis 0 is the batch: 1 .. ``max_batch``, tuned for ``opt_batch``. Dynamic
    height and width of an image input come from the ``*_hw`` settings.

    Raises:
        BackendError: a dynamic axis the settings do not size.
    """
    fixed = tuple(int(d) for d in shape)
    low, mid, high = list(fixed), list(fixed), list(fixed)
    hw_axes = _hw_axes(fixed)
    for axis, dim in enumerate(fixed):
        if dim >= 0:
            continue
        if axis == 0:
            low[0], mid[0], high[0] = 1, settings.opt_batch, settings.max_batch
        elif hw_axes is not None and axis in hw_axes:
            side = hw_axes.index(axis)
            if settings.opt_hw is None or settings.max_hw is None:
                raise BackendError(
                    f"TensorRT input '{name}' {list(fixed)} has a dynamic "
                    f"{('height', 'width')[side]}: set opt_hw and max_hw (min_hw optional) in the "
                    "tensorrt settings, e.g. opt_hw=[640, 640] max_hw=[1280, 1280]"
                )
            least = settings.min_hw or settings.opt_hw
            low[axis], mid[axis], high[axis] = least[side], settings.opt_hw[side], settings.max_hw[side]
        else:
            raise BackendError(
                f"TensorRT input '{name}' {list(fixed)} has a dynamic axis {axis} edgeloop cannot size: "
                "only the batch axis, and the height and width of an image, may be dynamic; export "
                "the model with a fixed size there"
            )
    return ShapeRange(name, tuple(low), tuple(mid), tuple(high))


def calibration_shape(profile: ShapeRange) -> Shape:
    """INT8 calibration feeds one image at a time, at the tuned height and width."""
    return (1, *profile.opt[1:]) if profile.min[0] != profile.max[0] else profile.opt


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def engine_cache_key(
    model_sha256: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    trt_version: str,
    precision: str,
    profile: str = "",
) -> str:
    """File name of a cached engine: any change of model, GPU, TensorRT, precision or profile misses."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    major, minor = compute_capability
    digest = _digest(model_sha256, gpu_name, f"{major}.{minor}", trt_version, precision, profile)
    return f"{precision}-{gpu}-sm{major}{minor}-trt{trt_version}-{digest}.engine"


def calibration_cache_key(model_sha256: str, trt_version: str, images: Sequence[str]) -> str:
    """File name of a cached INT8 calibration table: per model, TensorRT version and image set."""
    return f"int8-trt{trt_version}-{_digest(model_sha256, trt_version, *images)}.calib"


def cache_file(folder: Path, model_path: Path, key: str) -> Path:
    """``folder/<model stem>.<key>``, refusing a folder inside the model's bundle.

    Raises:
        BackendError: ``folder`` lies in the bundle folder that holds ``model_path``.
    """
    bundle = model_path.parent.resolve()
    target = folder.expanduser().resolve()
    if (bundle / "bundle.json").is_file() and (target == bundle or bundle in target.parents):
        raise BackendError(
            f"the TensorRT cache folder {folder} is inside the bundle {bundle}, which must stay as it "
            "was verified: set cache_dir to a folder outside it (default: ~/.cache/edgeloop/tensorrt)"
        )
    return target / f"{model_path.stem}.{key}"
