"""Capture policy YAML: valid examples load, mistakes name the key and what it allows; rate limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.errors import ConfigError
from edgeloop.improve import Capture, Spool, load_policy, policy_from_dict
from edgeloop.testing.capture_budget import FakeClock

EXAMPLE = """
samplers:
  - type: close_to_threshold
    band: [0.3, 0.6]
    classes: {scratch: [0.2, 0.5]}
    min_score: 0.4
    limits: {per_minute: 6, per_day: 2000}
    tags: [uncertain]
  - type: random
    min_score: 0.99
budget: {max_count: 5000, max_bytes: 2000000000}
image: {jpeg_quality: 85, max_size: 1280}
privacy: {drop_classes: [person], blur_classes: [face]}
"""


def test_example_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE)
    policy = load_policy(path)
    first = policy.samplers[0]
    assert first.type == "close_to_threshold" and first.tags == ["uncertain"]
    assert first.params.classes == {"scratch": (0.2, 0.5)}  # type: ignore[attr-defined]
    assert first.limits.per_minute == 6 and policy.budget.max_count == 5000
    assert policy.privacy.blur_classes == ["face"] and policy.privacy.strip_exif is True


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("samplers:\n  - type: close_to_threshold\n    bnad: [0.1, 0.2]\n",
         "samplers.0.bnad: unknown key (allowed here: type, min_score, probability, limits, tags, band, "
         "classes)"),
        ("samplers:\n  - type: nearest\n",
         "samplers.0.type: unknown sampler 'nearest': choose one of random, close_to_threshold"),
        ("samplers: [{type: random}]\nbudget: {max_files: 3}\n",
         "budget.max_files: unknown key (allowed here: max_count, max_bytes, min_free_bytes)"),
        ("samplers: [{type: random, probability: 1.5}]\n",
         "samplers.0.probability: Input should be less than or equal to 1"),
        ("samplers: [{type: random, limits: {per_week: 3}}]\n",
         "samplers.0.limits.per_week: unknown key (allowed here: per_minute, per_hour, per_day)"),
        ("samplers: [{type: random}]\nprivacy: {strip_exif: false}\n",
         "privacy.strip_exif: Input should be True"),
        ("samplers: []\n", "samplers: List should have at least 1 item"),
        ("samplers: [{type: random}]\nimage: {jpeg_quality: 0}\n",
         "image.jpeg_quality: Input should be greater"),
        ("samplers:\n  - type: close_to_threshold\n    band: [0.6, 0.2]\n",
         "the band of 'band' must be [low, high] with 0 <= low < high <= 1"),
        ("samplers: [{type: random}]\ncolour: red\n",
         "colour: unknown key (allowed here: samplers, limits, budget"),
        ("samplers: [{type: random\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_on_one_line(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text.strip() and "pydantic" not in text and "errors.pydantic.dev" not in text


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read the capture policy"):
        load_policy("/nonexistent/policy.yaml")


def offer_all(capture: Capture, clock: FakeClock, times: list[float]) -> list[str]:
    reasons = []
    for i, t in enumerate(times):
        clock.now = t
        image = np.zeros((16, 16, 3), np.uint8)
        image[:8] = i % 256  # distinct content: no deduplication
        image[8:] = i // 256
        reasons.append(capture.offer(image).reason)
    return reasons


def test_rate_limits_slide_on_the_injected_clock(tmp_path: Path) -> None:
    policy = policy_from_dict(
        {
            "samplers": [{"type": "flagged", "min_score": 0.0, "limits": {"per_minute": 3, "per_hour": 5}}],
            "seed": 1,
        }
    )
    clock = FakeClock()
    with Capture(policy, Spool(tmp_path), clock=clock, wall_clock=clock) as capture:
        reasons = offer_all(capture, clock, [0, 1, 2, 3, 59.5, 60.0, 61, 62, 63, 3600.0, 3601, 3601.5])
        counters = capture.spool.counters()
    assert reasons == [
        "kept", "kept", "kept", "rate_limit:minute", "rate_limit:minute",  # 3 in [0.5, 59.5]
        "kept", "kept", "rate_limit:hour", "rate_limit:hour",  # 5 kept within the hour
        "kept", "kept", "rate_limit:hour",  # 0 and 1 left the hour window, 2 is still in it
    ]  # fmt: skip
    assert counters["kept"] == 7 and counters["dropped:rate_limit:minute"] == 2
    assert counters["dropped:rate_limit:hour"] == 3 and counters["offered"] == 12


def test_global_limit_and_probability_are_deterministic(tmp_path: Path) -> None:
    policy = policy_from_dict(
        {
            "samplers": [{"type": "flagged", "min_score": 0.0, "probability": 0.5}],
            "limits": {"per_day": 40},
            "seed": 5,
        }
    )
    runs = []
    for n in range(2):
        clock = FakeClock()
        with Capture(policy, Spool(tmp_path / str(n)), clock=clock, wall_clock=clock) as capture:
            runs.append(offer_all(capture, clock, [float(i) for i in range(200)]))
    assert runs[0] == runs[1]
    assert runs[0].count("kept") == 40 and runs[0].count("rate_limit:day") > 0
    assert 60 < runs[0].count("probability") < 140


def test_every_policy_in_the_docs_loads() -> None:
    import re

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "improve.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 4  # the reference and one per use case
    for block in blocks:
        policy_from_dict(yaml.safe_load(block), "docs/improve.md")
