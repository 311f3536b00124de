"""The backend contract: the only hardware-specific step of inference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edgeloop.types import ModelSpec

Tensor = npt.NDArray[np.generic]


@runtime_checkable
class Backend(Protocol):
    """Runs a model file. Implementations import their runtime inside methods."""

    name: str

    @staticmethod
    def available() -> bool:
        """Whether the runtime library can be imported here."""
        ...

    def load(self, model_path: Path) -> ModelSpec:
        """Load a model and describe its inputs and outputs."""
        ...

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        """Run the model; outputs in the order of ``ModelSpec.outputs``."""
        ...

    def close(self) -> None:
        """Release the model. Safe to call more than once."""
        ...
