"""The demo's sizes, one frozen config for both rounds (defaults: ``make demo`` within 8 min on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo.

    The first round (synth -> train -> export -> eval -> predict): ``train_images``,
    ``val_images``, ``holdout_images`` of side ``image_size``, trained at ``imgsz`` for ``time_s``.

    The field round (``field``): a video of ``field_frames`` frames from the shifted domain
    (``DOMAIN_B``); the device keeps at most ``label_budget`` frames for labelling; the retrain job
    fine-tunes for ``finetune_time_s`` (at most ``finetune_epochs``); ``shifted_test_images``
    held-out shifted-domain images score the model before and after. ``threads``: torch threads
    of both trainings (None: torch's default).
    """

    train_images: int = 800
    val_images: int = 200
    holdout_images: int = 8
    image_size: int = 320
    imgsz: int = 224
    time_s: float = 150.0
    seed: int = 0
    field: bool = True
    field_frames: int = 320
    label_budget: int = 160
    finetune_time_s: float = 110.0
    finetune_epochs: int = 40
    finetune_lr: float | None = 0.002
    shifted_test_images: int = 200
    threads: int | None = None
    hub_port: int = 0  # 0: a free loopback port
