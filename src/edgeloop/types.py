"""The shared vocabulary that crosses module boundaries.

``Detections`` is the only detection result type: framework result objects never
leave the backend or decoder that produced them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Detections:
    """Boxes in original-image pixels.

    Attributes:
        xyxy: (N, 4) float32, x1 y1 x2 y2.
        confidence: (N,) float32 in [0, 1].
        class_id: (N,) int32 indices into ``names``.
        names: class names of the model, indexed by class id.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        if not len(xyxy) == len(confidence) == len(class_id):
            raise ValueError(
                f"Detections arrays differ in length: xyxy {len(xyxy)}, "
                f"confidence {len(confidence)}, class_id {len(class_id)}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "names", tuple(self.names))

    @classmethod
    def empty(cls, names: Sequence[str] = ()) -> Detections:
        """No detections."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int32),
            tuple(names),
        )

    def __len__(self) -> int:
        return int(self.confidence.shape[0])

    def __getitem__(self, index: int | slice | npt.NDArray[Any] | list[int]) -> Detections:
        """Select detections by position, slice, index array or boolean mask."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 or None)
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], self.names)

    def filter(self, min_confidence: float = 0.0, classes: Sequence[int] | None = None) -> Detections:
        """Keep detections at or above ``min_confidence`` and, if given, in ``classes``."""
        keep = self.confidence >= min_confidence
        if classes is not None:
            keep &= np.isin(self.class_id, np.asarray(list(classes), dtype=np.int32))
        return self[keep]

    def class_name(self, class_id: int) -> str:
        """Name of ``class_id``, or its number as text when the model has no name for it."""
        if 0 <= class_id < len(self.names):
            return self.names[class_id]
        return str(class_id)

    @property
    def area(self) -> FloatArray:
        """(N,) box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def to_json(self, image_size_wh: tuple[int, int], time_s: float | None = None) -> dict[str, Any]:
        """The detection wire format: box centres and sizes in original-image pixels."""
        predictions = []
        for (x1, y1, x2, y2), conf, cls in zip(
            self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist(), strict=True
        ):
            predictions.append(
                {
                    "x": round((x1 + x2) / 2, 2),
                    "y": round((y1 + y2) / 2, 2),
                    "width": round(x2 - x1, 2),
                    "height": round(y2 - y1, 2),
                    "confidence": round(conf, 4),
                    "class": self.class_name(cls),
                    "class_id": cls,
                }
            )
        out: dict[str, Any] = {"image": {"width": image_size_wh[0], "height": image_size_wh[1]}}
        if time_s is not None:
            out["time"] = round(time_s, 4)
        out["predictions"] = predictions
        return out


@dataclass(frozen=True)
class Classification:
    """Class probabilities for one image.

    Attributes:
        probabilities: (C,) float32, one per class, summing to ~1 for softmax models.
        names: class names, indexed by class id.
    """

    probabilities: FloatArray
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "probabilities", np.asarray(self.probabilities, np.float32).reshape(-1))
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def class_id(self) -> int:
        """The most likely class."""
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        """Probability of the most likely class."""
        return float(self.probabilities[self.class_id])

    def class_name(self, class_id: int) -> str:
        """Name of ``class_id``, or its number as text."""
        return self.names[class_id] if 0 <= class_id < len(self.names) else str(class_id)

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` most likely (class_id, probability) pairs, best first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(i), float(self.probabilities[i])) for i in order]

    def to_json(
        self, image_size_wh: tuple[int, int], time_s: float | None = None, k: int = 5
    ) -> dict[str, Any]:
        """Roboflow-style classification response."""
        out: dict[str, Any] = {"image": {"width": image_size_wh[0], "height": image_size_wh[1]}}
        if time_s is not None:
            out["time"] = round(time_s, 4)
        out["predictions"] = [
            {"class": self.class_name(i), "class_id": i, "confidence": round(p, 4)} for i, p in self.top(k)
        ]
        out["top"] = self.class_name(self.class_id)
        out["confidence"] = round(self.confidence, 4)
        return out


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output. Dimensions are ints, or a name/None when dynamic."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str = "float32"

    @property
    def static_shape(self) -> tuple[int, ...] | None:
        """The shape when every dimension is a fixed int, else None."""
        if all(isinstance(d, int) and d > 0 for d in self.shape):
            return tuple(int(d) for d in self.shape)  # type: ignore[arg-type]
        return None


@dataclass(frozen=True)
class ModelSpec:
    """What a loaded model takes and returns, plus its metadata key/values."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str] = field(default_factory=dict)
