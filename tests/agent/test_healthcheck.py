"""ProcessHealthCheck rejects every corpus kind meant for it, with a reason naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop.agent.contract import HealthCheck
from edgeloop.agent.healthcheck import ProcessHealthCheck
from edgeloop.testing.bad_models import HEALTH_KINDS
from tests.agent.conftest import Corpus

# A generous wall limit for a loaded 2-core machine; the CPU cap is what stops crash_worker
# (a good check's child uses about 0.6 s of CPU).
CHECK = ProcessHealthCheck(timeout_s=60.0, cpu_limit_s=2.0)

REASONS = {
    "fails_to_load": "candidate does not load: BackendError: ONNX Runtime could not load model.onnx",
    "nan_outputs": "outputs not finite: output 'output0' has 700 NaN values",
    "inf_outputs": "outputs not finite: output 'output0' has 100 inf values",
    "slow_10x": "too slow: median latency",
    "wrong_input_name": "model input names ['input'] differ from the previous version's ['images']",
    "wrong_output_name": "model output names ['detections'] differ from the previous version's ['output0']",
    "class_list_changed": "class names ['red', 'green'] differ from the previous version's ['red', 'green',",
    "crash_worker": "health check process died with SIGXCPU (CPU time limit of 2 s)",
    "worse_golden": "golden sample samples/scene.png mismatch: 1 detections, expected 2",
}


def test_good_candidate_passes(corpus: Corpus) -> None:
    check: HealthCheck = CHECK
    verdict = check(corpus.good_v2, corpus.good)
    assert verdict.ok, verdict.reason
    assert verdict.detail["samples"] == 1 and verdict.detail["latency_ratio"] < 3.0
    first = CHECK(corpus.good, None)  # first install: nothing to compare with
    assert first.ok, first.reason
    assert "previous_latency_ms" not in first.detail


@pytest.mark.parametrize("kind", HEALTH_KINDS)
def test_bad_kind_is_rejected(corpus: Corpus, kind: str) -> None:
    verdict = CHECK(corpus.bad[kind], corpus.good)
    assert not verdict.ok
    assert REASONS[kind] in verdict.reason, verdict.reason
    assert "\n" not in verdict.reason


def test_worse_live_passes_the_health_check(corpus: Corpus) -> None:
    # golden samples hold no blue object: only the window can see this one (test_window.py)
    verdict = CHECK(corpus.bad["worse_live"], corpus.good)
    assert verdict.ok, verdict.reason


def test_hang_is_killed_at_the_timeout(corpus: Corpus) -> None:
    verdict = ProcessHealthCheck(timeout_s=3.0, cpu_limit_s=600.0)(corpus.bad["crash_worker"], corpus.good)
    assert not verdict.ok
    assert verdict.reason == "health check timed out after 3 s (killed)"


def test_latency_budget_and_memory_cap(corpus: Corpus) -> None:
    verdict = ProcessHealthCheck(max_latency_ms=0.001)(corpus.good_v2, corpus.good)
    assert not verdict.ok and "is over the budget of 0.001 ms" in verdict.reason
    capped = ProcessHealthCheck(memory_limit_mb=64)(corpus.good_v2, corpus.good)
    assert not capped.ok, "64 MB of address space cannot hold ONNX Runtime and two models"
    assert "MemoryError" in capped.reason or capped.reason.startswith("health check process"), capped.reason


def test_missing_candidate(tmp_path: Path, corpus: Corpus) -> None:
    verdict = CHECK(tmp_path / "nothing", corpus.good)
    assert not verdict.ok and verdict.reason.startswith("candidate does not load:")


def test_raw_bundle_without_image_input(tmp_path: Path) -> None:
    from edgeloop.importer import ImportOptions, import_onnx
    from edgeloop.testing.family_models import embedder

    bundle = import_onnx(embedder(tmp_path / "emb.onnx"), tmp_path / "raw", ImportOptions(family="raw")).root
    verdict = CHECK(bundle, bundle)
    assert verdict.ok, verdict.reason
    assert verdict.detail["samples"] == 0 and "latency_ratio" in verdict.detail
