"""The accuracy gate's rules: how much a retrained candidate may lose, and how fast it must run.

Drops are in points of the gated metric (mAP50-95 for detectors, top-1 accuracy for
classifiers) times 100: ``max_map_drop: 0.5`` lets the candidate lose half a point,
0.612 -> 0.607. Floors are fractions in [0, 1], as ``edgeloop eval`` prints them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeloop.errors import ConfigError
from edgeloop.optional import require
from edgeloop.validation import format_validation_error

LOCAL = "local"  # latency measured on this machine with `edgeloop bench`'s code


class GateRules(BaseModel):
    """What a candidate must meet to replace the current model (docs/retrain/gate.md)."""

    model_config = ConfigDict(extra="forbid")

    max_map_drop: float = Field(
        default=0.0, ge=0, description="points of overall mAP50-95 (top-1) the candidate may lose per dataset"
    )
    max_class_drop: float = Field(
        default=5.0, ge=0, description="points of mAP50-95 (accuracy) any one class may lose per dataset"
    )
    min_instances: int = Field(
        default=10, ge=1, description="classes with fewer labelled instances in a dataset skip the class rule"
    )
    min_map: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="first model (no current): least overall mAP50-95 (top-1) on every dataset; "
        "catches broken models (wrong labels, a failed export), not weak ones",
    )
    latency_budget_ms: float | None = Field(
        default=None, gt=0, description="most milliseconds one inference of the candidate may take"
    )
    latency_target: str = Field(
        default=LOCAL,
        description="'local': measure on this machine (bench); else a catalog device slug "
        "(e.g. raspberry-pi-5): predicted as `edgeloop advise` does",
    )
    latency_runtime: str | None = Field(
        default=None,
        description="named target: catalog runtime to predict for (default: the first deployable)",
    )
    latency_runs: int = Field(default=30, ge=3, description="timed runs per model on this machine")
    int8: bool = Field(
        default=False,
        description="also make the INT8 variant with `optimize` and record its own gate's verdict",
    )
    int8_max_drop: float = Field(
        default=1.0, ge=0, description="optimize's --max-drop: mAP50-95 points INT8 may lose against FP32"
    )
    int8_calib_images: int = Field(default=200, ge=1, description="calibration images for INT8")

    @field_validator("latency_target")
    @classmethod
    def _target(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError(
                "empty latency target: use 'local' or a device slug from `edgeloop advise --all`"
            )
        return v


def rules_from_dict(data: Any, source: str = "gate rules") -> GateRules:
    """Validate a mapping read from a file or a request.

    Raises:
        ConfigError: one line naming each wrong key, what was given and what is allowed.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the gate rules must be a mapping of keys (e.g. max_map_drop: 0.5), "
            f"not {type(data).__name__}"
        )
    try:
        return GateRules.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(exc, "key", model=GateRules)
        raise ConfigError(f"{source}: {problems} (see docs/retrain/gate.md)") from None


def load_rules(path: str | Path) -> GateRules:
    """Read gate rules from a YAML or JSON file (JSON is YAML too; ``.json`` is read strictly).

    Raises:
        ConfigError: the file is unreadable, not valid YAML/JSON, or has wrong keys or values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the gate rules: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    else:
        data = _yaml(path, text)
    return rules_from_dict({} if data is None else data, str(path))


def _yaml(path: Path, text: str) -> Any:
    yaml = require("yaml", "PyYAML", "data", "gate rules in YAML (or write them as .json)")

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
