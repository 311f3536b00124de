"""The gate's rules on hand-made scores, and rule files: pure, no models (the real models are in
test_gate.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeloop.errors import ConfigError
from edgeloop.retrain.compare import compare_scores, latency_check
from edgeloop.retrain.rules import GateRules, load_rules
from edgeloop.retrain.scores import Scores


def _det(overall: float, **classes: tuple[float, int]) -> Scores:
    per_class = {
        name: {"map50_95": ap, "map50": min(1.0, ap * 1.5), "instances": float(n)}
        for name, (ap, n) in classes.items()
    }
    return Scores("detect", {"map50_95": overall, "map50": min(1.0, overall * 1.5)}, per_class, 50)


def test_defaults_match_the_contract() -> None:
    rules = GateRules()
    assert (rules.max_map_drop, rules.max_class_drop, rules.min_map) == (0.0, 5.0, 0.10)
    assert (rules.latency_budget_ms, rules.latency_target, rules.int8, rules.min_instances) == (
        None,
        "local",
        False,
        10,
    )


def test_a_class_that_drops_past_the_limit_is_a_reason_naming_it() -> None:
    current = _det(0.55, square=(0.50, 40), circle=(0.612, 40))
    candidate = _det(0.56, square=(0.72, 40), circle=(0.401, 40))
    checks = compare_scores("test", candidate, current, GateRules())
    failed = [c.text for c in checks if not c.passed]
    assert failed == ["class 'circle' on test: mAP50-95 0.612 -> 0.401 (-21.1 points), limit -5.0"]
    assert [c.rule for c in checks] == ["overall", "class", "class"]


def test_an_overall_drop_past_the_limit_is_a_reason() -> None:
    checks = compare_scores("field", _det(0.58), _det(0.612), GateRules(max_map_drop=1.0))
    assert [c.text for c in checks if not c.passed] == [
        "overall on field: mAP50-95 0.612 -> 0.580 (-3.2 points), limit -1.0"
    ]


def test_equal_scores_pass_and_a_drop_equal_to_the_limit_passes() -> None:
    same = _det(0.5, square=(0.5, 20))
    assert all(c.passed for c in compare_scores("test", same, same, GateRules()))
    current = _det(0.50, square=(0.50, 20))
    candidate = _det(0.49, square=(0.45, 20))  # -1.0 overall and -5.0 on the class, both at the limit
    assert all(c.passed for c in compare_scores("test", candidate, current, GateRules(max_map_drop=1.0)))


def test_classes_with_too_few_instances_skip_the_class_rule() -> None:
    current = _det(0.5, square=(0.5, 40), circle=(0.9, 3))
    candidate = _det(0.5, square=(0.5, 40), circle=(0.0, 3))
    checks = compare_scores("test", candidate, current, GateRules(min_instances=5))
    assert [c.class_name for c in checks if c.rule == "class"] == ["square"]
    assert all(c.passed for c in checks)
    failed = [
        c for c in compare_scores("test", candidate, current, GateRules(min_instances=3)) if not c.passed
    ]
    assert [c.class_name for c in failed] == ["circle"]


def test_classes_without_ground_truth_are_not_compared() -> None:
    current = _det(0.5, square=(0.5, 40), circle=(math.nan, 0))
    candidate = _det(0.5, square=(0.5, 40), circle=(math.nan, 0))
    checks = compare_scores("test", candidate, current, GateRules(min_instances=1))
    assert [c.class_name for c in checks] == [None, "square"]


def test_a_first_model_is_judged_on_the_floor() -> None:
    [low] = compare_scores("test", _det(0.05), None, GateRules())
    assert not low.passed
    assert low.text.startswith("overall on test: mAP50-95 0.050, floor 0.100 for a first model")
    [ok] = compare_scores("test", _det(0.05), None, GateRules(min_map=0.05))
    assert ok.passed


def test_classification_uses_top1_points() -> None:
    def cls(top1: float, a: float) -> Scores:
        return Scores("classify", {"top1": top1, "top5": 1.0}, {"a": {"top1": a, "instances": 20.0}}, 20)

    [overall, klass] = compare_scores("test", cls(0.80, 0.70), cls(0.90, 0.90), GateRules())
    assert overall.text == "overall on test: top-1 0.900 -> 0.800 (-10.0 points), limit -0.0"
    assert klass.text == "class 'a' on test: top-1 0.900 -> 0.700 (-20.0 points), limit -5.0"


def test_latency_check() -> None:
    slow = latency_check(12.5, 10.0, 8.0, "this machine")
    assert (
        not slow.passed and slow.text == "latency on this machine: 12.50 ms (current 10.00 ms), budget 8 ms"
    )
    assert latency_check(7.9, None, 8.0, "x").passed


def test_rules_load_from_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text("max_map_drop: 0.5\nmax_class_drop: 3\nlatency_budget_ms: 40\n")
    (tmp_path / "gate.json").write_text('{"int8": true, "latency_target": "raspberry-pi-5"}')
    (tmp_path / "empty.yaml").write_text("")
    yaml_rules = load_rules(tmp_path / "gate.yaml")
    assert (yaml_rules.max_map_drop, yaml_rules.max_class_drop, yaml_rules.latency_budget_ms) == (
        0.5,
        3.0,
        40.0,
    )
    json_rules = load_rules(tmp_path / "gate.json")
    assert json_rules.int8 and json_rules.latency_target == "raspberry-pi-5"
    assert load_rules(tmp_path / "empty.yaml") == GateRules()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_map_dorp: 1\n", "key 'max_map_dorp'"),
        ("max_class_drop: -2\n", "max_class_drop"),
        ("min_map: 40\n", "min_map"),
        ("max_map_drop: [1\n", "not valid YAML at line"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_rule_file_errors_are_one_line_naming_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_missing_and_broken_json_rule_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the gate rules"):
        load_rules(tmp_path / "nope.yaml")
    (tmp_path / "bad.json").write_text("{max_map_drop: 1}")
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        load_rules(tmp_path / "bad.json")
    assert "\n" not in str(info.value)


def test_the_gate_scores_the_test_split_and_hands_optimize_a_folder_of_it(tmp_path: Path) -> None:
    import shutil

    import yaml

    from edgeloop.data.synth import synth_detection
    from edgeloop.retrain.scores import load_gate_data, split_folder

    for name, seed in (("train", 0), ("val", 1), ("test", 2)):
        synth_detection(tmp_path / "subs" / name, 4 + seed, 64, seed=seed)
    subs = load_gate_data(tmp_path / "subs", "test")
    assert subs.split == "test" and len(subs.dataset.items) == 6
    assert split_folder(subs, tmp_path / "scratch") == tmp_path / "subs" / "test"

    # The Ultralytics layout: one data.yaml whose splits are folders under images/ and labels/.
    flat = tmp_path / "flat"
    for name in ("train", "test"):
        for kind in ("images", "labels"):
            shutil.copytree(tmp_path / "subs" / name / kind, flat / kind / name)
    names = list(subs.dataset.names)
    (flat / "data.yaml").write_text(
        yaml.safe_dump({"train": "images/train", "test": "images/test", "names": names})
    )
    prefixed = load_gate_data(flat, "test")
    assert prefixed.split == "test" and len(prefixed.dataset.items) == 6
    copy = split_folder(prefixed, tmp_path / "scratch")
    assert copy.parent == tmp_path / "scratch"
    assert len(load_gate_data(copy, "test").dataset.items) == 6

    whole = load_gate_data(tmp_path / "subs" / "val", "field")
    assert whole.split == "all" and split_folder(whole, tmp_path / "scratch") == tmp_path / "subs" / "val"
