"""Training settings, validated once at the boundary and stored with every checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeloop.train.model import PRESETS

# Defaults when a run starts from an earlier model (--init) and the flag is not given.
FINETUNE_LR = 0.0005  # a quarter of a fresh run's: keeps what the parent learned (docs/retrain/finetune.md)
FINETUNE_FREEZE = 0.2  # first fifth with the backbone frozen, while the new head rows settle


class TrainConfig(BaseModel):
    """Everything that decides a training run; saved in ``args.json`` and in checkpoints."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="dataset folder (with train/ and val/ subsets, or split here)")
    out: str = Field(description="run folder for checkpoints and results.csv")
    model: str = "nano"
    epochs: int = Field(default=30, ge=1)
    time_s: float | None = Field(default=None, gt=0, description="wall-clock budget; the schedule fits it")
    imgsz: int = Field(default=320, ge=64, le=2048)
    batch: int = Field(default=8, ge=1, description="8 learns more per image seen than 16 (twice the steps)")
    lr: float = Field(default=0.002, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup: float = Field(default=0.03, ge=0, lt=1, description="fraction of training spent warming up")
    final_lr: float = Field(default=0.02, gt=0, le=1, description="last learning rate, relative to lr")
    ema: float = Field(default=0.999, ge=0, lt=1)
    mosaic: float = Field(default=1.0, ge=0, le=1)
    close_mosaic: float = Field(default=0.15, ge=0, le=1, description="final fraction without mosaic")
    patience: int = Field(default=10, ge=1, description="stop after this many epochs without a better mAP")
    val_fraction: float = Field(default=0.2, gt=0, lt=1, description="used when DATA has no val/ subset")
    device: str = "auto"
    seed: int = 0
    threads: int | None = Field(default=None, ge=1)
    task: Literal["detect", "classify"] | None = None
    init: str | None = Field(
        default=None, description="start from this run folder, checkpoint (.pt) or exported bundle"
    )
    freeze: float = Field(
        default=0.0, ge=0, le=1, description="fraction of the run with the backbone frozen [0.2 with --init]"
    )
    replay: str | None = Field(default=None, description="earlier dataset folder mixed into every epoch")
    replay_share: float = Field(
        default=0.3, ge=0, lt=1, description="share of each epoch's images drawn from --replay"
    )

    @model_validator(mode="before")
    @classmethod
    def _finetune_defaults(cls, values: Any) -> Any:
        """With ``init``, unset ``lr`` and ``freeze`` take the fine-tuning defaults."""
        if isinstance(values, dict) and values.get("init"):
            values = {"lr": FINETUNE_LR, "freeze": FINETUNE_FREEZE, **values}
        return values

    @model_validator(mode="after")
    def _replay_needs_init(self) -> TrainConfig:
        if self.replay and not self.init:
            raise ValueError(
                "--replay mixes an earlier dataset into a fine-tune and needs --init; to train a new model "
                "on both datasets, merge them (edgeloop dataset merge)"
            )
        return self

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown model preset '{v}': choose one of {', '.join(PRESETS)}")
        return v

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"--imgsz {v} must be a multiple of 32 (the largest stride)")
        return v

    @property
    def run_dir(self) -> Path:
        return Path(self.out)
