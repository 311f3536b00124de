"""A backend that runs nothing: fixed outputs, for tests and dry runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec


def _default_outputs() -> list[tuple[int, ...]]:
    return [(1, 84, 8400)]


class NullConfig(BackendSettings):
    """Shapes the null backend pretends to have."""

    device_field: ClassVar[str | None] = None

    type: Literal["null"] = "null"
    input_shape: tuple[int, ...] = (1, 3, 640, 640)
    output_shapes: list[tuple[int, ...]] = Field(default_factory=_default_outputs)

    def with_threads(self, threads: int) -> NullConfig:
        """The null backend runs nothing: any number of threads is honoured trivially."""
        return self

    def capabilities(self) -> Capabilities:
        """Fixed outputs (batch of one); nothing to share between threads."""
        return Capabilities(
            thread_safe=True, preferred_workers=1, dynamic_shapes=False, threads_setting=False
        )


class NullBackend:
    """Returns zeros (or outputs set with ``set_outputs``) without reading the model."""

    name = "null"
    Config = NullConfig

    def __init__(self, config: NullConfig | None = None) -> None:
        self.config = config or NullConfig()
        self._outputs: list[Tensor] | None = None
        self._loaded = False
        self.calls = 0

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        return True

    def load(self, model_path: Path) -> ModelSpec:
        self._loaded = True
        return ModelSpec(
            inputs=(TensorSpec("images", self.config.input_shape),),
            outputs=tuple(TensorSpec(f"output{i}", s) for i, s in enumerate(self.config.output_shapes)),
        )

    def set_outputs(self, outputs: list[Tensor]) -> None:
        """Make ``infer`` return these arrays (batch axis included)."""
        self._outputs = outputs

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if not self._loaded:
            raise BackendError("null backend: call load() before infer()")
        self.calls += 1
        if self._outputs is not None:
            return self._outputs
        return [np.zeros(s, np.float32) for s in self.config.output_shapes]

    def close(self) -> None:
        self._loaded = False
