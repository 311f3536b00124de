"""What a retrain job is asked to do (``POST /api/v1/jobs`` body, ``hub retrain`` flags, a plan)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeloop.errors import ConfigError
from edgeloop.validation import format_validation_error

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@([1-9][0-9]*|latest))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PRESETS = ("nano", "small", "edge")


class TrainSettings(BaseModel):
    """The training run of a job (``edgeloop train``'s settings that a job may set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("nano", description="preset for a model trained from scratch")
    imgsz: int = Field(320, ge=64, le=2048)
    epochs: int = Field(30, ge=1, le=10_000)
    time_s: float | None = Field(None, gt=0, description="wall-clock budget of the training run")
    batch: int = Field(8, ge=1, le=1024)
    lr: float | None = Field(None, gt=0)
    freeze: float | None = Field(None, ge=0, lt=1)
    seed: int = 0
    threads: int | None = Field(None, ge=1)
    device: str = "auto"
    mosaic: float = Field(1.0, ge=0, le=1)
    init: bool = Field(True, description="start from the current published model's checkpoint")

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"imgsz {v} must be a multiple of 32")
        return v

    @field_validator("model")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}: choose one of {', '.join(PRESETS)}")
        return v


class RetrainParams(BaseModel):
    """One retrain: dataset version -> train -> export -> gate -> sign -> registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(description="NAME, NAME@VERSION or NAME@latest")
    model: str | None = Field(None, description="registry name of the model (default: the dataset's name)")
    field: str | None = Field(None, description="dataset whose newest version's test split is the field set")
    snapshot: bool = Field(False, description="first make a new version of the dataset from labelled samples")
    train: TrainSettings = TrainSettings()
    gate: dict[str, Any] = Field(default_factory=dict, description="gate rules (edgeloop gate --rules)")

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if not _REF.match(v):
            raise ValueError(f"{v!r} is not NAME or NAME@VERSION (letters, digits, . _ -; a version from 1)")
        return v

    @field_validator("model", "field")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r}: use letters, digits, '.', '_' or '-' (at most 128)")
        return v

    @property
    def dataset_name(self) -> str:
        return self.dataset.partition("@")[0]

    @property
    def dataset_version(self) -> int | None:
        """The version asked for; None for the latest."""
        version = self.dataset.partition("@")[2]
        return int(version) if version and version != "latest" else None

    @property
    def model_name(self) -> str:
        return self.model or self.dataset_name


def parse_params(data: Any, source: str = "retrain job") -> RetrainParams:
    """Validate job parameters; ConfigError names each wrong key and what it allows."""
    try:
        params = RetrainParams.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc, 'key', model=RetrainParams)}") from None
    if params.snapshot and params.dataset_version is not None:
        raise ConfigError(f"{source}: snapshot makes a new version; give the dataset without @VERSION")
    return params
