"""The capture policy: which samplers run, how often they may keep, the disk budget, privacy.

Loaded from YAML and validated once (``load_policy``); errors name the YAML key
and what it allows, on one line. Example (docs/improve.md has one per use case)::

    samplers:
      - type: close_to_threshold
        band: [0.3, 0.6]
        min_score: 0.5
        limits: {per_minute: 6, per_day: 2000}
        tags: [uncertain]
    budget: {max_count: 5000, max_bytes: 2000000000}
    image: {jpeg_quality: 90, max_size: 1280}
    privacy: {drop_classes: [person]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from edgeloop.errors import ConfigError
from edgeloop.improve.samplers import SAMPLERS, Sampler, SamplerParams
from edgeloop.optional import require


class Limits(BaseModel):
    """At most this many frames kept per sliding minute, hour and day (unset: no limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    per_minute: int | None = Field(None, ge=0)
    per_hour: int | None = Field(None, ge=0)
    per_day: int | None = Field(None, ge=0)


class SamplerPolicy(BaseModel):
    """One sampler entry: ``type``, the common keys below, and the sampler's own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    min_score: float = Field(0.5, ge=0.0, le=1.0)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    limits: Limits = Limits()
    tags: list[str] = Field(default_factory=list)
    _params: SamplerParams = PrivateAttr()

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler '{value}': choose one of {', '.join(SAMPLERS.names())}")
        return value

    @model_validator(mode="after")
    def _sampler_params(self) -> SamplerPolicy:
        sampler: Sampler[Any] = SAMPLERS.get(self.type)
        self._params = sampler.params.model_validate(self.model_extra or {})
        return self

    @property
    def sampler(self) -> Sampler[Any]:
        """The registered sampler this entry runs."""
        sampler: Sampler[Any] = SAMPLERS.get(self.type)
        return sampler

    @property
    def params(self) -> SamplerParams:
        """The sampler's own settings, validated."""
        return self._params


class Budget(BaseModel):
    """Disk budget of the spool: when full, the lowest-valued (then oldest) samples are evicted.

    ``min_free_bytes``: a write is not started when it would leave less than this
    free on the spool's filesystem (the frame is dropped as ``disk_full``), so the
    spool never fills a disk that the rest of the device needs (0: write until the disk refuses).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_count: int | None = Field(10_000, ge=1)
    max_bytes: int | None = Field(2 * 1024**3, ge=1)
    min_free_bytes: int = Field(64 * 1024**2, ge=0)


class ImageOptions(BaseModel):
    """How kept frames are stored: JPEG quality, and the longest side (larger frames are scaled down)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    jpeg_quality: int = Field(90, ge=1, le=100)
    max_size: int | None = Field(1920, ge=16)


class Privacy(BaseModel):
    """Filters applied before anything is written.

    ``strip_exif`` can only be true: frames are stored as freshly encoded JPEGs,
    which carry no metadata.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    drop_classes: list[str] = Field(default_factory=list)
    blur_classes: list[str] = Field(default_factory=list)
    crops_only: bool = False
    min_confidence: float = Field(0.1, ge=0.0, le=1.0)
    margin: float = Field(0.1, ge=0.0, le=1.0)
    strip_exif: Literal[True] = True


class CapturePolicy(BaseModel):
    """A whole capture policy (see the module docstring for the YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    samplers: list[SamplerPolicy] = Field(min_length=1)
    limits: Limits = Limits()
    budget: Budget = Budget()
    image: ImageOptions = ImageOptions()
    privacy: Privacy = Privacy()
    seed: int | None = None
    counters_flush_s: float = Field(5.0, ge=0.0)


def _allowed_keys(loc: tuple[int | str, ...], data: Any) -> list[str]:
    """The keys the mapping at ``loc`` accepts, walking the policy models (and sampler settings)."""
    cls: type[BaseModel] = CapturePolicy
    kind: Any = None
    for part in loc:
        if isinstance(part, int):
            if cls is SamplerPolicy and isinstance(data, dict) and isinstance(data.get("samplers"), list):
                entry = data["samplers"][part] if part < len(data["samplers"]) else None
                kind = entry.get("type") if isinstance(entry, dict) else None
            continue
        field = cls.model_fields.get(part)
        annotation: Any = field.annotation if field is not None else None
        inner: Any = getattr(annotation, "__args__", (annotation,))[0] if part == "samplers" else annotation
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        cls = inner
    keys = list(cls.model_fields)
    if cls is SamplerPolicy and isinstance(kind, str) and kind in SAMPLERS:
        keys += list(SAMPLERS.get(kind).params.model_fields)
    return keys


def describe(exc: ValidationError, data: Any) -> str:
    """One line naming the first invalid YAML key and what it allows."""
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1], data))
        return f"{where}: unknown key (allowed here: {allowed}){more}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}{more}"


def policy_from_dict(data: Any, source: str = "policy") -> CapturePolicy:
    """Validate a parsed policy; ``ConfigError`` names the key and what it allows."""
    try:
        return CapturePolicy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc, data)} (see docs/improve.md)") from None


def load_policy(path: str | Path) -> CapturePolicy:
    """Read and validate a capture policy YAML file."""
    yaml = require("yaml", "PyYAML", "capture", "capture policies")
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the capture policy: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return policy_from_dict(data or {}, str(path))
