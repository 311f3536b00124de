"""The model worker: micro-batching, bounded waiting, draining."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.serve.metrics import Metrics
from edgeloop.serve.worker import ModelWorker, Overloaded, Unavailable
from edgeloop.testing.onnx_models import colour_detector
from tests.conftest import scene_640x480


@pytest.fixture(scope="module")
def batch_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    model = colour_detector(root / "m.onnx", family="yolo", dynamic_batch=True)
    return import_onnx(model, root / "bundle").root


def test_micro_batches_give_the_same_answers(batch_bundle: Path) -> None:
    predictor = Predictor(batch_bundle)
    assert predictor.batchable
    metrics = Metrics()
    worker = ModelWorker(predictor, "test", metrics, queue_size=64, max_batch=8, max_wait_ms=50)
    images = [scene_640x480(), np.roll(scene_640x480(), 32, axis=1), np.full((480, 640, 3), 128, np.uint8)]
    expected = [predictor.predict(im) for im in images]
    got: dict[int, object] = {}

    def call(i: int) -> None:
        prepared = predictor.prepare(images[i % 3])
        outputs = worker.run({predictor.input_name: prepared.tensor}, batchable=True, timeout_s=30)
        got[i] = predictor.finish(outputs, prepared)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in got.items():
        assert np.array_equal(result.xyxy, expected[i % 3].xyxy)  # type: ignore[attr-defined]
    infer_calls = float(
        metrics.render().split('edgeloop_stage_seconds_count{model="m",stage="infer"} ')[1].split()[0]
    )
    assert len(got) == 12 and infer_calls < 12, "requests waiting together must share inference calls"
    worker.close()


def test_bounded_waiting_and_unloading(batch_bundle: Path) -> None:
    predictor = Predictor(batch_bundle)
    worker = ModelWorker(predictor, "test", Metrics(), queue_size=1)
    tensor = predictor.prepare(scene_640x480()).tensor
    with worker.session._slots:  # the model is busy
        holder = threading.Thread(target=worker.run, args=({"images": tensor}, False, 10))
        holder.start()
        while worker.queue_depth < 1:
            pass
        with pytest.raises(Overloaded, match="busy"):
            worker.run({"images": tensor}, False, 10)
    holder.join()
    worker.close()
    with pytest.raises(Unavailable, match="being unloaded"):
        worker.run({"images": tensor}, False, 10)
