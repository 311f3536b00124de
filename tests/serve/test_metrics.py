"""/metrics is rendered by prometheus_client: label values escaped, one registry per server."""

from __future__ import annotations

import cv2
import httpx
import numpy as np
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from edgeloop.serve.metrics import Metrics, labels
from tests.serve.conftest import Server

ODD = 'say "hi"\\ to\nme'  # a quote, a backslash and a newline


def samples(text: str) -> dict[str, list[Sample]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_label_values_with_quotes_backslashes_and_newlines_parse_back() -> None:
    metrics = Metrics()
    metrics.inc("edgeloop_rejections_total", "Refused", model=ODD, reason="queue_full")
    metrics.observe("edgeloop_stage_seconds", "Seconds", 0.02, model=ODD, stage="infer")
    metrics.gauge("edgeloop_queue_depth", "Waiting", lambda: {labels(model=ODD): 3.0})
    found = samples(metrics.render())
    assert found["edgeloop_rejections"] == [
        Sample("edgeloop_rejections_total", {"model": ODD, "reason": "queue_full"}, 1.0)
    ]
    assert found["edgeloop_queue_depth"][0].labels == {"model": ODD}
    assert found["edgeloop_queue_depth"][0].value == 3.0
    hist = {(s.name, s.labels.get("le")): s for s in found["edgeloop_stage_seconds"]}
    assert hist[("edgeloop_stage_seconds_count", None)].labels == {"model": ODD, "stage": "infer"}
    assert hist[("edgeloop_stage_seconds_bucket", "0.01")].value == 0.0
    assert hist[("edgeloop_stage_seconds_bucket", "0.025")].value == 1.0
    assert hist[("edgeloop_stage_seconds_bucket", "+Inf")].value == 1.0


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.inc("edgeloop_requests_total", "HTTP requests", route="/a", code="200")
    second.inc("edgeloop_requests_total", "HTTP requests", route="/b", code="404", value=2.0)
    assert [s.labels["route"] for s in samples(first.render())["edgeloop_requests"]] == ["/a"]
    assert [s.value for s in samples(second.render())["edgeloop_requests"]] == [2.0]
    assert first.registry is not second.registry
    assert "edgeloop_requests_total" not in prometheus_client.generate_latest().decode()


def test_metrics_route_parses_with_the_prometheus_parser(server: Server) -> None:
    url = f"{server.url}/v1/models/colour-yolo/predict"
    assert httpx.post(url, content=b"x", headers={"Content-Type": "image/png"}).status_code == 400
    image = cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes()
    assert httpx.post(url, content=image, headers={"Content-Type": "image/png"}).status_code == 200
    r = httpx.get(f"{server.url}/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(r.text)
    requests = {(s.labels["route"], s.labels["code"]) for s in found["edgeloop_requests"]}
    assert ("/v1/models/{name}/predict", "400") in requests
    assert {s.labels["model"] for s in found["edgeloop_model_ready"]} == {"colour-yolo", "colour-classify"}
    assert any(s.name == "edgeloop_stage_seconds_bucket" for s in found["edgeloop_stage_seconds"])
