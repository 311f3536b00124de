"""The server under fuzzing: schemathesis through its OpenAPI spec, then mutated image uploads.

``benchmarks/fuzz_server.py`` runs the same driver with 2,000+ requests and prints the counts; the
test sends 150 schema cases (every operation's valid and invalid strategies, two or more cases each)
and 50 mutated images (every mutation kind of image_fuzz), about half of what it sent before.
The parametrized cases below are what the fuzzer found (each gave a 500 and a traceback before).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.testing.server_fuzz import run
from tests.conftest import scene_640x480
from tests.serve.conftest import Server

DET = "colour-yolo"
PNG = base64.b64encode(cv2.imencode(".png", scene_640x480())[1].tobytes()).decode()
IMAGES = {"name": "images", "shape": [1, 3, 640, 640], "datatype": "FP32"}


def test_150_schema_requests_and_50_images_no_5xx_no_traceback_bounded_rss(tmp_path: Path) -> None:
    model = random_yolo(tmp_path / "m.onnx", imgsz=128, num_classes=3, width=0.25)
    bundle = import_onnx(model, tmp_path / "bundle", ImportOptions(name="fuzz-target"))
    report = run(bundle.root, "fuzz-target", tmp_path / "run", schema_requests=150, image_requests=50)
    assert report.schema_requests == 150 and report.image_requests == 50
    assert report.operations >= 20, "the OpenAPI document lost its routes"
    assert not report.server_errors, "\n".join(report.server_errors[:20])
    assert not report.transport_errors and report.exit_code is None, report.transport_errors[:5]
    assert report.tracebacks == 0, (tmp_path / "run" / "stderr.log").read_text()[-5000:]
    assert report.rss_growth_mb < 100, report
    assert report.statuses.get(200, 0) > 10  # the fuzzer reached the model, not only 404s


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "name": ["images"]}]}),
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "datatype": {"x": 1}}]}),
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "parameters": "binary"}]}),
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "datatype": "UINT8", "data": [-1, 300]}]}),
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "shape": [2**62, 4], "data": []}]}),
        ("/v2/models/{m}/infer", {"inputs": [{**IMAGES, "shape": [1] * 70, "data": [0.5]}]}),
        ("/v1/models/{m}/predict", {"image": "aGk=", "conf": 10**400}),
        ("/v1/models/{m}/predict", {"image": PNG, "classes": [2**40]}),
        ("/infer/object_detection", {"model_id": "{m}", "image": PNG, "class_filter": [2**70]}),
    ],
)
def test_malformed_bodies_get_400(server: Server, path: str, body: dict) -> None:
    body = {k: (v.format(m=DET) if isinstance(v, str) else v) for k, v in body.items()}
    r = httpx.post(server.url + path.format(m=DET), json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert "error" in r.json()


def test_json_infinity_is_a_bad_integer_not_a_crash(server: Server) -> None:
    """Python's JSON parser accepts Infinity; int(inf) raised OverflowError (a 500)."""
    body = b'{"image": "aGk=", "max_det": Infinity}'
    r = httpx.post(
        f"{server.url}/v1/models/{DET}/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "max_det" in r.json()["error"], r.text


def test_v2_parameters_that_are_not_an_object_get_400(server: Server) -> None:
    size = 4 * 3 * 640 * 640
    header = {"inputs": [{**IMAGES, "parameters": {"binary_data_size": size}}], "parameters": ["binary"]}
    head = json.dumps(header).encode()
    r = httpx.post(
        f"{server.url}/v2/models/{DET}/infer",
        content=head + bytes(size),
        headers={"Inference-Header-Content-Length": str(len(head))},
        timeout=30,
    )
    assert r.status_code == 400 and "'parameters' must be an object" in r.json()["error"], r.text


@pytest.mark.parametrize("shape", [(1, 5000, 3), (5000, 1, 3)])
def test_extreme_aspect_ratio_images_are_predicted(server: Server, shape: tuple[int, int, int]) -> None:
    """A 5000x1 image letterboxed to 640 rounded to 0 pixels: ValueError from the resize, a 500."""
    data = cv2.imencode(".png", np.full(shape, 90, np.uint8))[1].tobytes()
    r = httpx.post(f"{server.url}/v1/models/{DET}/predict", content=data, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["image"] == {"width": shape[1], "height": shape[0]}
