"""The Retrain tab in a real headless Chromium against the real hub: a running job's progress bar
and log tail, its result when it ends, a refused model's gate verdict, reasons and stored report.

The rows are written through the hub's own queue and registry functions on the hub's database
(the training itself is covered by test_jobs_e2e.py), so the page is checked in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edgeloop.hub import registry
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from edgeloop.hub.jobs import queue
from edgeloop.testing.hub_server import HubServer
from tests.hub.test_browser import browser, open_page  # noqa: F401 - the shared Chromium fixture

REASON = "overall on test: mAP50-95 0.172 -> 0.058 (-11.5 points), limit -0.0"


def _models(engine: sa.Engine, blobs: Any) -> None:
    one = registry.reserve(engine, "shapes", trigger="added by hand")
    registry.complete(
        engine,
        blobs,
        "shapes",
        one,
        status="published",
        bundle_dir=None,
        checkpoint=None,
        metrics={"map50_95": 0.041},
        gate={"passed": True, "reasons": []},
        counter=1,
        key_id="k1",
    )
    two = registry.reserve(
        engine, "shapes", parent_version=1, dataset=("shuffled", 1, "f" * 64), trigger="manual", job_id=1
    )
    blobs.put(
        registry.blob_key("shapes", two, "gate/gate.md"), b"# Gate: refused\n\n- " + REASON.encode() + b"\n"
    )
    registry.complete(
        engine,
        blobs,
        "shapes",
        two,
        status="refused",
        bundle_dir=None,
        checkpoint=None,
        metrics={"map50_95": 0.058},
        gate={"passed": False, "reasons": [REASON]},
    )


def test_retrain_tab_shows_progress_result_and_gate(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with HubServer(tmp_path / "data", extra_args=("--no-worker",)) as server:
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'hub.db'}")
        blobs = open_blobs(str(tmp_path / "data" / "blobs"))
        job = queue.create(engine, "retrain", {"dataset": "shuffled@1", "model": "shapes"})
        assert queue.claim(engine, job.id, "worker@gpu-box:1") is not None
        queue.report(engine, job.id, 0.42, ["training on shuffled@1 (96 px)", "epoch 2 loss 5.85"])
        _models(engine, blobs)
        try:
            with open_page(browser) as (page, errors):
                page.goto(f"{server.url}/#token={server.admin_token}&tab=retrain")
                row = f"#jobs tbody tr[data-id='{job.id}']"
                page.wait_for_selector(f"{row}[data-status='running']")
                assert page.get_attribute(f"{row} progress", "value") == "0.42"
                assert "42 %" in page.inner_text(f"{row} td.progress")
                assert "epoch 2 loss 5.85" in page.inner_text(f"{row} td.log")
                assert page.inner_text(f"{row} td:nth-child(6)") == "worker@gpu-box:1"

                queue.finish(
                    engine,
                    job.id,
                    {"model": "shapes", "version": 2, "status": "refused", "reasons": [REASON]},
                )
                page.wait_for_selector(f"{row}[data-status='done']")  # the tab refreshes on its own
                assert page.get_attribute(f"{row} progress", "value") == "1"
                assert page.inner_text(f"{row} td.result") == f"shapes@2 refused: {REASON}"

                refused = "#models tbody tr[data-ref='shapes@2']"
                assert page.inner_text(f"{refused} td.gate") == "refused"
                assert page.inner_text(f"{refused} td.reasons") == REASON
                assert (
                    page.inner_text("#models tbody tr[data-ref='shapes@1'] td:first-child")
                    == "shapes@1 (current)"
                )
                page.click(f"{refused} button")
                page.wait_for_selector("#gate-view:not([hidden])")
                assert REASON in page.inner_text("#gate-report")
                assert errors == []
        finally:
            blobs.close()
            engine.dispose()
