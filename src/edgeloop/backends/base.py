"""The backend contract: the only hardware-specific step of inference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, ValidationError

from edgeloop.errors import ConfigError
from edgeloop.types import ModelSpec
from edgeloop.validation import format_errors

Tensor = npt.NDArray[np.generic]
_S = TypeVar("_S", bound="BackendSettings")


@dataclass(frozen=True)
class Capabilities:
    """What a backend (with given settings) can do; callers ask this instead of checking names.

    Attributes:
        thread_safe: ``infer`` may be called from several threads at once (it may still
            serialize internally, as OpenVINO's one infer request does).
        preferred_workers: concurrent inference calls that make the best use of the device.
        dynamic_shapes: runs models with a dynamic batch axis at any batch size.
        threads_setting: honours a number of CPU inference threads (``--threads``).
    """

    thread_safe: bool
    preferred_workers: int
    dynamic_shapes: bool
    threads_setting: bool


class BackendSettings(BaseModel):
    """Base of every backend's config: a pydantic model with a ``type`` tag.

    Subclasses declare ``type: Literal["name"]``, ``threads_field`` (the field that
    ``--threads`` sets, or None when the backend cannot honour it) and ``capabilities()``.
    Plain pydantic: importing a config never imports the runtime library.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads_field: ClassVar[str | None] = None
    device_field: ClassVar[str | None] = "device"

    def capabilities(self) -> Capabilities:
        """What the backend can do with these settings (conservative default)."""
        return Capabilities(
            thread_safe=False, preferred_workers=1, dynamic_shapes=False, threads_setting=False
        )

    @property
    def backend_name(self) -> str:
        """The backend registry name (the ``type`` tag)."""
        return str(type(self).model_fields["type"].default)

    @property
    def cpu_threads(self) -> int:
        """The CPU inference threads these settings ask for (0: the runtime decides, or none)."""
        return int(getattr(self, self.threads_field)) if self.threads_field else 0

    def replace(self: _S, changes: Mapping[str, object]) -> _S:
        """A validated copy with ``changes`` applied.

        Raises:
            ConfigError: a value this backend does not accept (naming the key and what is allowed).
        """
        try:
            return self.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise settings_error(exc, self.backend_name) from None

    def with_threads(self: _S, threads: int) -> _S:
        """These settings running inference on ``threads`` CPU threads (0: the runtime decides).

        Raises:
            ConfigError: the backend cannot set a number of threads.
        """
        if self.threads_field is None:
            if threads == 0:
                return self
            raise ConfigError(
                f"--threads: backend '{self.backend_name}' cannot set a number of inference threads; "
                "leave --threads out (or 0) with this backend"
            )
        return self.replace({self.threads_field: threads})


def settings_error(exc: ValidationError, backend: str | None = None) -> ConfigError:
    """One line naming each bad setting, what was given and what is allowed."""
    errors = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if backend and loc and loc[0] == backend:
            loc = loc[1:]  # the union's branch: already named in the message
        errors.append({**error, "loc": loc})
    where = f"backend '{backend}'" if backend else "backend settings"
    return ConfigError(f"invalid {where}: " + format_errors(errors, "setting"))


@runtime_checkable
class Backend(Protocol):
    """Runs a model file. Implementations import their runtime inside methods."""

    name: str

    @staticmethod
    def available() -> bool:
        """Whether the runtime library can be imported here."""
        ...

    def capabilities(self) -> Capabilities:
        """What this backend, with its settings, can do (thread safety, workers, shapes)."""
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
