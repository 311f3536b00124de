"""The device catalog: one entry per device, every number with its source.

The data lives in ``catalog.json`` beside this module; ``load_catalog`` reads
and validates it (or another file with the same schema, e.g. a crafted one in
tests or a team's own price list).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeloop.errors import ConfigError
from edgeloop.validation import format_validation_error

Precision = Literal["fp32", "fp16", "int8"]
Unit = Literal["cpu", "gpu", "npu"]
CATALOG_PATH = Path(__file__).with_name("catalog.json")


class Cpu(BaseModel):
    """The host CPU of a device."""

    model_config = ConfigDict(extra="forbid")

    cores: int = Field(ge=1)
    isa: str
    clock_ghz: float = Field(gt=0)
    arch: Literal["arm64", "x86_64"]


class Target(BaseModel):
    """A runtime that runs models on one compute unit of a device, at these precisions."""

    model_config = ConfigDict(extra="forbid")

    runtime: str
    unit: Unit
    precisions: list[Precision] = Field(min_length=1)


class Device(BaseModel):
    """One catalogued device. ``None`` means no citable number was found."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    cpu: Cpu | None = None
    memory_gb: float | None = Field(default=None, ge=0)
    bandwidth_gbs: float | None = Field(default=None, gt=0)
    peak_gops: dict[Unit, dict[Precision, float]]
    power_w: float | None = Field(default=None, gt=0)
    price_usd: float | None = Field(default=None, ge=0)
    targets: list[Target] = Field(min_length=1)
    limits: list[str] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Device:
        for target in self.targets:
            if target.unit not in self.peak_gops:
                raise ValueError(
                    f"{self.slug}: target {target.runtime} runs on '{target.unit}' with no peak_gops"
                )
        for key in ("peak_gops", "power_w", "price_usd", "bandwidth_gbs", "memory_gb"):
            if getattr(self, key) not in (None, {}) and key not in self.sources:
                raise ValueError(f"{self.slug}: '{key}' has no entry in sources")
        return self

    def peak(self, unit: Unit, precision: Precision) -> float | None:
        """Peak giga-operations per second of ``unit`` at ``precision`` (None if not listed)."""
        return self.peak_gops.get(unit, {}).get(precision)

    @property
    def arch(self) -> str:
        return self.cpu.arch if self.cpu else "none"


class Catalog(BaseModel):
    """The whole catalog file."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    note: str = ""
    devices: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        slugs = [d.slug for d in self.devices]
        if len(set(slugs)) != len(slugs):
            raise ValueError("two devices share a slug")
        return self

    def device(self, slug: str) -> Device:
        """The device called ``slug``.

        Raises:
            ConfigError: no such device (the message lists the slugs).
        """
        for d in self.devices:
            if d.slug == slug:
                return d
        raise ConfigError(f"unknown device '{slug}': choose one of {', '.join(d.slug for d in self.devices)}")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a catalog file (default: the packaged ``catalog.json``).

    Raises:
        ConfigError: the file is missing, not JSON, or does not match the schema.
    """
    if path is None:
        return _packaged()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _packaged() -> Catalog:
    return _read(CATALOG_PATH)


def _read(path: Path) -> Catalog:
    try:
        return Catalog.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(f"{path}: catalog file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, "key", prefix=f"{path} (catalog)", model=Catalog)
        ) from None
