"""Every entry of every registry imports lazily and honours its contract with real objects.

Adding a registry is one line in ``REGISTRIES``: where it lives and the function that checks one
entry; adding an entry to a registry needs nothing here (the file sinks and the families need a
target or a synthetic model, and the test says so when one is missing).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

from edgeloop.data.dataset import Dataset, DatasetFormat, Item, labelled_boxes
from edgeloop.registry import Registry
from edgeloop.stream.frames import Event, Frame, FrameResult
from edgeloop.stream.sinks import Sink
from edgeloop.types import Classification, Detections
from tests.blocked import run_without
from tests.conftest import scene_640x480

Check = Callable[[str, Any, Path], None]


def check_backend(name: str, cls: Any, tmp_path: Path) -> None:
    """available() / load / infer / close and a pydantic Config; runs a real model where installed."""
    for method in ("available", "load", "infer", "close"):
        assert callable(getattr(cls, method, None)), f"backend {name}: no {method}()"
    assert issubclass(cls.Config, BaseModel), f"backend {name}: Config is not a pydantic model"
    assert isinstance(cls.available(), bool)
    if not cls.available():
        pytest.skip(f"backend {name}: runtime not installed here")
    from edgeloop.testing.onnx_models import colour_detector

    model = colour_detector(tmp_path / "m.onnx", imgsz=(64, 64), stride=32)
    backend = cls(cls.Config())
    spec = backend.load(model)
    shape = tuple(d if isinstance(d, int) else 1 for d in spec.inputs[0].shape)
    outputs = backend.infer({spec.inputs[0].name: np.zeros(shape, np.float32)})
    assert len(outputs) == len(spec.outputs) and all(isinstance(o, np.ndarray) for o in outputs)
    backend.close()
    backend.close()  # idempotent


def _darknet_bundle(tmp_path: Path) -> Path:
    from edgeloop.testing.darknet_models import darknet_bundle

    return darknet_bundle(tmp_path)


# Families that no model is recognised as, chosen by their importer: family -> bundle folder maker.
CHOSEN_BY_IMPORTER: dict[str, Callable[[Path], Path]] = {"yolo-anchors": _darknet_bundle}


def check_family(name: str, family: Any, tmp_path: Path) -> None:
    """A family recognises its own synthetic model and decodes its real outputs into its task's type;
    ``raw`` (no decoder) runs its model as tensors."""
    from edgeloop.importer import ImportOptions, import_onnx
    from edgeloop.postprocess import DecodeOptions
    from edgeloop.predictor import Predictor
    from edgeloop.testing.family_models import text_detector
    from edgeloop.testing.onnx_models import colour_detector

    assert family.name == name and family.task in ("detect", "classify", "raw")
    if name in CHOSEN_BY_IMPORTER:  # never recognised from shapes: its importer writes its bundles
        with Predictor(CHOSEN_BY_IMPORTER[name](tmp_path)) as predictor:
            assert predictor.bundle.manifest.family == name
            assert isinstance(predictor.predict(scene_640x480()), Detections)
        return
    if family.decode is None:
        model = text_detector(tmp_path / "m.onnx")
        bundle = import_onnx(model, tmp_path / "bundle", ImportOptions(family=name)).root
        with Predictor(bundle) as predictor:
            outputs = predictor.infer(np.zeros((1, 3, 64, 96), np.float32))
        assert outputs and all(np.isfinite(o).all() for o in outputs)
        return
    try:
        model = colour_detector(tmp_path / "m.onnx", family=name)
    except (ValueError, KeyError) as exc:
        pytest.fail(f"family {name}: give edgeloop.testing a synthetic model for it ({exc})")
    with Predictor(import_onnx(model, tmp_path / "bundle").root) as predictor:
        assert predictor.bundle.manifest.family == name  # recognised without being told
        array, size_wh = predictor.decode(scene_640x480())
        prepared = predictor.prepare(array, size_wh)
        outputs = predictor.infer(prepared.tensor)
        result = family.decode(
            [o[0] for o in outputs], prepared.transform, DecodeOptions(names=predictor.names)
        )
    if family.task == "classify":
        assert isinstance(result, Classification)
    else:  # the scene holds one red and one green square
        assert isinstance(result, Detections) and sorted(result.class_id.tolist()) == [0, 1], result


def _dataset(root: Path, task: str) -> Dataset:
    names = ("green", "red")  # sorted: class folders are read in name order
    items = []
    for i, name in enumerate(names):
        image = root / "raw" / f"{name}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image), np.full((48, 64, 3), 60 * i, np.uint8))
        if task == "classify":
            items.append(Item(image, f"{name}/{name}.png", (64, 48), label=i))
        else:
            boxes = labelled_boxes([[4.0, 6.0, 40.0, 30.0]], [i], names)
            items.append(Item(image, f"{name}.png", (64, 48), boxes))
    return Dataset(names, tuple(items), "classify" if task == "classify" else "detect")


def check_format(name: str, fmt: DatasetFormat, tmp_path: Path) -> None:
    """save, then detect and load the same dataset back."""
    assert isinstance(fmt, DatasetFormat) and fmt.name == name
    dataset = _dataset(tmp_path, fmt.task)
    fmt.save(dataset, tmp_path / name)
    assert fmt.detect(tmp_path / name), f"format {name}: detect() misses its own output"
    assert not fmt.detect(tmp_path / "raw")
    assert fmt.load(tmp_path / name).same_as(dataset)


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _frame() -> FrameResult:
    detections = labelled_boxes([[64.0, 48.0, 192.0, 176.0]], [0], ("red",))
    return FrameResult(Frame("cam0", 0, scene_640x480(), time.monotonic()), detections, 0.01)


def check_sink(name: str, cls: Any, tmp_path: Path) -> None:
    """open / write / event / close as a context manager; a file sink leaves a complete file."""
    assert issubclass(cls, Sink)
    if name == "mqtt":
        # Needs a broker: tests/stream/test_sinks.py runs it against a real Mosquitto
        # (test_mqtt_topic_per_source_qos1) and without one (test_mqtt_without_broker_says_how_to_fix).
        assert isinstance(cls.from_target("mqtt://127.0.0.1/site", {"cam0": 25.0}), Sink)
        return
    if name == "webhook":
        _Receiver.bodies.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with cls.from_target(f"http://127.0.0.1:{server.server_port}/hook", {}) as sink:
                sink.write(_frame())
                sink.event(Event("source_lost", "cam0"))
                deadline = time.monotonic() + 10
                while len(_Receiver.bodies) < 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
        finally:
            server.shutdown()
        assert [json.loads(b).get("source") for b in _Receiver.bodies] == ["cam0", "cam0"]
        return
    targets = {"jsonl": "out.jsonl", "video": "out.mp4", "capture": "captures"}
    if name not in targets:
        pytest.fail(f"sink {name}: add a target for it to check_sink")
    target = tmp_path / targets[name]
    sink = cls.from_target(str(target), {"cam0": 25.0})
    with sink as opened:
        assert opened is sink
        sink.write(_frame())
        sink.event(Event("source_lost", "cam0"))
    sink.close()  # idempotent
    if name == "capture":  # a spool: the frame (it has a detection) is held with its intact file
        from edgeloop.improve import Spool

        with Spool(target) as spool:
            assert len(spool.samples()) == 1 and spool.verify() == []
        return
    written = [p for p in ([target] if target.is_file() else target.rglob("*")) if p.is_file()]
    assert written and all(p.stat().st_size > 0 for p in written), f"sink {name} wrote nothing"


def check_sampler(name: str, sampler: Any, tmp_path: Path) -> None:
    """A sampler scores a frame with detections and one without a model in [0, 1], with a reason."""
    from edgeloop.improve.samplers import Frame, SamplerContext, thumbnail

    assert sampler.name == name
    image = np.zeros((48, 64, 3), np.uint8)
    boxes = np.array([[1, 2, 20, 30]], np.float32)
    detections = Detections(boxes, np.array([0.5], np.float32), np.array([0], np.int32), ("a",))
    for frame in (Frame(0, 0.0, detections, thumbnail(image), detections), Frame(1, 1.0)):
        score = sampler(frame, sampler.params(), SamplerContext())
        assert 0.0 <= score.score <= 1.0 and score.reason.strip()


# One line per registry: "module:attr" of the registry, and the check for one entry.
REGISTRIES: dict[str, tuple[str, Check]] = {
    "backends": ("edgeloop.backends:BACKENDS", check_backend),
    "families": ("edgeloop.postprocess.families:FAMILIES", check_family),
    "dataset formats": ("edgeloop.data.formats:FORMATS", check_format),
    "sinks": ("edgeloop.stream.sinks:SINKS", check_sink),
    "samplers": ("edgeloop.improve.samplers:SAMPLERS", check_sampler),
}


def registry(kind: str) -> Registry:
    module, _, attr = REGISTRIES[kind][0].partition(":")
    found: Registry = getattr(importlib.import_module(module), attr)
    return found


def entries() -> Iterator[Any]:
    for kind in REGISTRIES:
        for name in registry(kind).names():
            yield pytest.param(kind, name, id=f"{kind}:{name}")


@pytest.mark.parametrize(("kind", "name"), list(entries()))
def test_entry_meets_its_contract(kind: str, name: str, tmp_path: Path) -> None:
    REGISTRIES[kind][1](name, registry(kind).get(name), tmp_path)


def test_registries_import_nothing_until_asked() -> None:
    """Importing a registry imports none of its entries (nor torch or OpenCV)."""
    locations = {kind: where for kind, (where, _) in REGISTRIES.items()}
    code = f"""
import importlib
for kind, where in {locations!r}.items():
    module, _, attr = where.partition(":")
    reg = getattr(importlib.import_module(module), attr)
    for name in reg.names():
        entry_module = reg.location(name).partition(":")[0]
        if kind == "backends":
            # The BackendConfig union holds each backend's config class, so the backend modules
            # load with the registry; what must not load is the runtime library itself.
            entry_module = name  # the runtime library bears the backend's name (null has none)
        assert entry_module not in sys.modules, f"{{kind}}: importing {{module}} imported {{entry_module}}"
    assert reg.names(), kind
"""
    result = run_without(("torch", "cv2"), code)
    assert result.returncode == 0, result.stderr
