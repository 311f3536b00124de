"""SIGKILL at every state of the agent: current is always the complete old or the complete new version."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop.improve.faults import AGENT_POINTS
from edgeloop.testing.agent_kills import Fixture, KillCounts, kill_run, prepare
from edgeloop.testing.bad_bundles import Kit

RUNS = 3


@pytest.fixture(scope="module")
def fixture(kit_template: Kit, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return prepare(tmp_path_factory.mktemp("kills"), kit_template)


@pytest.mark.parametrize("point", AGENT_POINTS)
def test_kill_at_each_state(fixture: Fixture, tmp_path: Path, point: str) -> None:
    counts = KillCounts()
    for run in range(RUNS):
        kill_run(fixture, tmp_path / f"run{run}", point, counts, load=run == 0)
    assert (counts.tried, counts.mix, counts.none, counts.failed) == (RUNS, 0, 0, 0), counts.why
