"""The OTA path end to end with the real processes: the hub over HTTP on SQLite, the device's
``edgeloop agent`` (real health check in its own process, real stats window) and ``edgeloop serve
--models`` under 16 clients, all the time.

One run: v1 then v2 committed; three broken candidates of the corpus (a health-check kind,
crash_worker, worse_live through the window) rejected or rolled back with the reason on the hub and
v2 still serving; a tampered bundle rejected before staging; a canary rollout of a broken candidate
(the real device the one canary, three simulated devices the rest of the group) halted, the others
never offered it. The load generator saw no failed request, and p99 around the switches stays
within 2x of the steady state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeloop.hub.rollouts import choose_canaries
from edgeloop.testing.agent_fleet import Fleet, wait_for
from edgeloop.testing.bad_models import build_candidate
from edgeloop.testing.loadgen import Report
from edgeloop.testing.ota_rig import DEVICE, GROUP, MODEL, OtaRig, p99_around, switch_times

STEADY_S = 3.0
# The whole run happens in the module fixture (the first test's setup), and the p99 ratio and the
# health check's latency comparison are measured there: under xdist the other worker waits.
pytestmark = pytest.mark.alone


class Run:
    """What the one end-to-end run saw (shared by the test functions below)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, tuple[str, str, str]] = {}  # what -> (state, reason, current version)
        self.canary: dict[str, object] = {}
        self.report = Report()
        self.steady: tuple[float, float] = (0.0, 0.0)
        self.good_version = ""
        self.installed_after_tampered: list[str] = []
        self.tampered_version = ""


def _canary(rig: OtaRig, work: Path, run: Run) -> None:
    """A broken candidate in a canary rollout: cam is the canary, three simulated devices wait."""
    assert rig.good is not None
    version = rig.publish(build_candidate(rig.good, "nan_outputs", work / "canary-nan"))
    names = [
        n
        for n in (f"sim-{i}" for i in range(40))
        if choose_canaries([DEVICE, n], MODEL, version, 0.5) == [DEVICE]
    ]
    others = names[:3]
    assert choose_canaries([DEVICE, *others], MODEL, version, 0.25) == [DEVICE]
    fleet = Fleet(rig.hub.url, work / "fleet", poll_s=0.2)
    try:
        for name in others:
            fleet.start(name, rig.hub.add_device(name, GROUP))
        wait_for(
            lambda: all(a.stats.committed for a in fleet.agents.values()),
            30,
            "the simulated devices catch up",
        )
        update = rig.update(version, canary_share=0.25)
        time.sleep(1.5)  # several of the simulated devices' polls after the halt
        shown = rig.shown(update.rollout)
        run.canary = {
            "state": shown["state"],
            "reason": shown["reason"],
            "cam": (update.state, update.reason),
            "offered": fleet.offered(str(version)),
            "rows": {row["device"]: row["state"] for row in shown["devices"]},
            "fleet_failed": fleet.failed_requests(),
        }
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("ota-e2e")
    out = Run()
    rig = OtaRig(work, window_s=2.0)
    try:
        rig.start()
        assert rig.good is not None
        first = rig.update(rig.publish(rig.good))
        assert first.state == "committed", first.reason
        rig.serve()
        time.sleep(1.0)  # connections up, caches warm
        steady_start = time.monotonic()
        time.sleep(STEADY_S)
        out.steady = (steady_start, time.monotonic())
        good = rig.update(rig.publish(rig.good))
        out.outcomes["good v2"] = (good.state, good.reason, rig.current_version())
        out.good_version = str(good.version)
        for kind in ("wrong_output_name", "crash_worker", "worse_live"):
            update = rig.update(rig.publish(build_candidate(rig.good, kind, work / kind)))
            out.outcomes[kind] = (update.state, update.reason, rig.current_version())
        update = rig.update(rig.publish_unverified("tampered"))
        out.outcomes["tampered"] = (update.state, update.reason, rig.current_version())
        out.installed_after_tampered = rig.installed_versions()
        out.tampered_version = str(update.version)
        _canary(rig, work, out)
        time.sleep(1.0)
    finally:
        report = rig.stop()
    out.report = report or Report()
    yield out


def test_good_update_commits(run: Run) -> None:
    state, reason, current = run.outcomes["good v2"]
    assert state == "committed", reason
    assert current == run.good_version


@pytest.mark.parametrize(
    ("kind", "state", "why"),
    [
        ("wrong_output_name", "rejected", "health check failed"),
        ("crash_worker", "rejected", "health check failed"),
        ("worse_live", "rolled_back", "detection rate drifted"),
        ("tampered", "rejected", "verification failed (Tampered)"),
    ],
)
def test_bad_candidate_refused_with_reason_on_the_hub(run: Run, kind: str, state: str, why: str) -> None:
    shown_state, reason, current = run.outcomes[kind]
    assert (shown_state, why in reason) == (state, True), reason
    assert current == run.good_version, f"after {kind} the device runs {current}"


def test_tampered_never_staged(run: Run) -> None:
    assert run.tampered_version not in run.installed_after_tampered, run.installed_after_tampered


def test_canary_halts_before_the_rest_of_the_group(run: Run) -> None:
    canary = run.canary
    assert canary["cam"][0] == "rejected", canary  # type: ignore[index]
    assert canary["state"] == "halted" and DEVICE in str(canary["reason"]), canary
    assert canary["offered"] == [], f"non-canaries were offered the halted version: {canary}"
    rows = canary["rows"]
    assert isinstance(rows, dict) and all(s == "waiting" for d, s in rows.items() if d != DEVICE), rows
    assert canary["fleet_failed"] == 0


def test_no_failed_requests(run: Run) -> None:
    report = run.report
    assert report.total > 1000, f"only {report.total} requests"
    assert report.failed == 0, report.failures()


def test_p99_around_switches_within_2x_of_steady(run: Run) -> None:
    report = run.report
    steady = report.percentile(99, *run.steady)
    switches = switch_times(report)
    assert len(switches) >= 3, switches  # v2, worse_live there and back
    during = p99_around(report, switches)
    print(f"p99 steady {steady:.1f} ms, around {len(switches)} version changes {during:.1f} ms")
    assert during <= 2 * steady, (
        f"p99 {during:.1f} ms around {len(switches)} switches vs {steady:.1f} ms steady"
    )
