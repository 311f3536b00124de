"""The inference session the server and the video pipeline share a model through."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edgeloop.backends import (
    BACKENDS,
    BackendConfig,
    Capabilities,
    NullConfig,
    OnnxRuntimeConfig,
    create_backend,
    parse_backend_config,
)
from edgeloop.errors import Overloaded, Unavailable
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.session import InferenceSession
from edgeloop.testing.onnx_models import colour_detector, random_yolo
from edgeloop.types import ModelSpec
from tests.conftest import scene_640x480

Tensor = npt.NDArray[np.generic]


@pytest.fixture(scope="module")
def random_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("session")
    return import_onnx(random_yolo(root / "m.onnx", imgsz=160, num_classes=4, width=0.25), root / "b").root


@pytest.fixture(scope="module")
def batch_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    model = colour_detector(root / "m.onnx", family="yolo", dynamic_batch=True)
    return import_onnx(model, root / "bundle").root


def _inputs(predictor: Predictor, count: int) -> list[Tensor]:
    rng = np.random.default_rng(0)
    h, w = predictor.input_spec.size_hw
    return [predictor.prepare(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).tensor for _ in range(count)]


def _bundle_for(name: str, random_bundle: Path) -> Path:
    """The bundle holding a variant backend ``name`` runs: ncnn's own copy, made once."""
    if name == "litert":  # LiteRT runs .tflite files: the TensorFlow-built test detector
        out = random_bundle.parent / "b-litert"
        if not out.exists():
            from edgeloop.convert import ConvertOptions, convert_model
            from tests.convert.test_tflite import NAMES
            from tests.convert.tf_artifacts import tf_models

            convert_model(tf_models() / "detector.tflite", out, ConvertOptions(names=NAMES, check=False))
        return out
    if name != "ncnn":
        return random_bundle
    out = random_bundle.parent / "b-ncnn"
    if not out.exists():
        from edgeloop.optimize import OptimizeOptions, optimize
        from edgeloop.testing.parity import need_ncnn

        need_ncnn(convert=True)
        optimize(random_bundle, out, OptimizeOptions(ncnn=True, latency_runs=3, progress=False))
    return out


def _available(name: str) -> BackendConfig:
    if not BACKENDS.get(name).available():
        pytest.skip(f"{name} is not installed here")
    if name == "null":
        return NullConfig(input_shape=(1, 3, 160, 160), output_shapes=[(1, 8, 525)])
    return parse_backend_config(name)


@pytest.mark.parametrize("name", BACKENDS.names())
def test_four_threads_get_the_serial_outputs(name: str, random_bundle: Path) -> None:
    """Concurrency: 4 threads through one shared session = the same outputs as serial calls."""
    with Predictor(_bundle_for(name, random_bundle), _available(name)) as predictor:
        tensors = _inputs(predictor, 16)
        serial = [predictor.infer(t) for t in tensors]
        workers = predictor.capabilities.preferred_workers
        with InferenceSession(predictor, queue_size=16, workers=max(workers, 2)) as session:

            def call(i: int) -> list[Tensor]:
                # Half on the caller's thread, half through the session's queue.
                return session.run(tensors[i]) if i % 2 else session.submit(tensors[i]).result(30)

            with ThreadPoolExecutor(4) as pool:
                concurrent = list(pool.map(call, range(len(tensors))))
    for got, want in zip(concurrent, serial, strict=True):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(a, b)


def test_queue_bound_raises_overloaded(random_bundle: Path) -> None:
    with Predictor(random_bundle) as predictor:
        session = InferenceSession(predictor, queue_size=1)
        tensor = _inputs(predictor, 1)[0]
        with session._slots:  # the model is busy: the next call waits, the one after is refused
            waiting = threading.Thread(target=session.run, args=(tensor,))
            waiting.start()
            while session.queue_depth < 1:
                pass
            with pytest.raises(Overloaded, match="busy \\(1 requests waiting\\)"):
                session.run(tensor)
            with pytest.raises(Overloaded):
                session.submit(tensor)
        waiting.join()
        assert session.queue_depth == 0
        assert len(session.run(tensor)) == 1  # room again
        session.close()


def test_close_is_idempotent_and_refuses_later_calls(random_bundle: Path) -> None:
    with Predictor(random_bundle) as predictor:
        tensor = _inputs(predictor, 1)[0]
        session = InferenceSession(predictor)
        assert session.submit(tensor).result(30)  # starts the session's thread
        session.close()
        session.close()
        with pytest.raises(Unavailable, match="being unloaded"):
            session.run(tensor)
        with pytest.raises(Unavailable):
            session.submit(tensor)
        assert len(predictor.infer(tensor)) == 1  # the predictor is its owner's to close
        with InferenceSession(predictor):  # never used: closing starts nothing
            pass


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.stages: list[str] = []

    def stage(self, stage: str, seconds: float) -> None:
        assert seconds >= 0
        self.stages.append(stage)

    def batch(self, size: int) -> None:
        self.batches.append(size)

    def rejected(self, reason: str) -> None:
        raise AssertionError(reason)


def test_micro_batches_match_per_image_calls(batch_bundle: Path) -> None:
    predictor = Predictor(batch_bundle)
    assert predictor.batchable
    images = [scene_640x480(), np.roll(scene_640x480(), 32, axis=1), np.full((480, 640, 3), 128, np.uint8)]
    prepared = [predictor.prepare(im) for im in images]
    expected = [predictor.infer(p.tensor) for p in prepared]
    recorder = _Recorder()
    session = InferenceSession(predictor, queue_size=64, max_batch=8, max_wait_ms=50, metrics=recorder)
    barrier = threading.Barrier(12)

    def call(i: int) -> list[Tensor]:
        barrier.wait()
        return session.submit(prepared[i % 3].tensor).result(30)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(call, range(12)))
    session.close()
    predictor.close()
    for i, outputs in enumerate(results):
        assert [o.shape[0] for o in outputs] == [1] * len(outputs)
        for got, want in zip(outputs, expected[i % 3], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert sum(recorder.batches) == 12
    assert max(recorder.batches) > 1, "calls waiting together must share inference calls"
    assert recorder.stages.count("queue") == 12 and recorder.stages.count("infer") == len(recorder.batches)


def test_fixed_batch_models_are_not_batched(random_bundle: Path) -> None:
    with Predictor(random_bundle) as predictor, InferenceSession(predictor, max_batch=8) as session:
        assert not predictor.batchable and session.max_batch == 1


class _Counting:
    """A real ONNX Runtime backend that declares other capabilities and counts overlapping calls."""

    def __init__(self, thread_safe: bool) -> None:
        self.inner = create_backend(OnnxRuntimeConfig(intra_op_threads=1))
        self.name = "onnxruntime"
        self.thread_safe = thread_safe
        self.active = self.most = 0
        self.lock = threading.Lock()

    def capabilities(self) -> Capabilities:
        return Capabilities(self.thread_safe, 1, True, True)

    @staticmethod
    def available() -> bool:
        return True

    def load(self, model_path: Path) -> ModelSpec:
        return self.inner.load(model_path)

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            return self.inner.infer(inputs)
        finally:
            with self.lock:
                self.active -= 1

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("thread_safe", [False, True])
def test_backends_that_are_not_thread_safe_run_one_call_at_a_time(
    thread_safe: bool, random_bundle: Path
) -> None:
    backend = _Counting(thread_safe)
    with Predictor(random_bundle, backend) as predictor:
        session = InferenceSession(predictor, queue_size=64, workers=4)
        assert session.concurrency == (4 if thread_safe else 1)
        tensors = _inputs(predictor, 4)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: session.run(tensors[i % 4]), range(64)))
        session.close()
    assert backend.most <= session.concurrency
    if not thread_safe:
        assert backend.most == 1
