"""The bad-model corpus: ten kinds of broken candidate bundles that only the OTA checks can catch.

Every candidate is a complete bundle (``bundle.json`` lists each file with the right
sha256 and size, the golden samples are the good bundle's), so verification and
loading the manifest pass; signing it (:func:`sign_candidate`) makes it as trusted as
a good release. What is wrong is the model:

==================== ================================================================ ===============
kind                 what is wrong                                                    caught by
==================== ================================================================ ===============
fails_to_load        model.onnx is the first half of the good file (hash matches)     health: load
nan_outputs          every output value is multiplied by NaN                          health: finite
inf_outputs          every box's x centre is +inf                                     health: finite
slow_10x             a chain of (1024x64)x(64x64) MatMuls on the image, ~10x latency  health: latency
wrong_input_name     the model's input is called ``input`` (was ``images``)           health: compat
wrong_output_name    the model's output is called ``detections`` (was ``output0``)    health: compat
class_list_changed   one class dropped: 2 names, output (1, 6, N) instead of (1, 7, N) health: compat
crash_worker         one inference never ends (a Loop of 2^62 steps): the process     health: process
                     uses up its CPU-time cap and the kernel kills it (SIGXCPU)       death
worse_golden         green scores x0.1: the golden sample's green box disappears      health: samples
worse_live           blue scores x0.1: golden samples (red, green) still match, but   window:
                     live frames with blue objects lose those detections              detection rate
==================== ================================================================ ===============

The good bundle is the colour detector (``onnx_models.colour_detector``) at 320x320
with one golden sample (a red and a green square); :func:`live_frames` makes frames
with red, green and blue squares for traffic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeloop.agent.healthprobe import DEFAULT_BACKEND, latency
from edgeloop.bundle import load_bundle, read_manifest, sha256_file, write_manifest
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.samples import add_samples
from edgeloop.signing import load_signer, next_counter, sign_bundle
from edgeloop.testing.onnx_models import colour_detector

SIZE = 320
CELL = 32
ROWS, SIDE = 1024, 64  # the slow kind's MatMuls: small steps (~0.1 ms), so the count tunes finely
KINDS = (
    "fails_to_load",
    "nan_outputs",
    "inf_outputs",
    "slow_10x",
    "wrong_input_name",
    "wrong_output_name",
    "class_list_changed",
    "crash_worker",
    "worse_golden",
    "worse_live",
)
HEALTH_KINDS = tuple(k for k in KINDS if k != "worse_live")  # the health check must reject these
WINDOW_KINDS = ("worse_live",)  # these pass the health check; the window must roll them back
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def golden_scene() -> np.ndarray:
    """The golden sample: grey 320x320, a red square at x, y 32..96, a green one at x 192..288, y 160..256."""
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    image[32:96, 32:96] = BGR["red"]
    image[160:256, 192:288] = BGR["green"]
    return image


def good_bundle(folder: Path, version: str = "1") -> Path:
    """The good bundle in ``folder/good`` (built once; unsigned): colour detector + a golden sample."""
    root = folder / "good"
    if (root / "bundle.json").is_file():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    model = colour_detector(folder / "colour.onnx", imgsz=(SIZE, SIZE), stride=CELL)
    bundle = import_onnx(model, root)
    scene = folder / "scene.png"
    cv2.imwrite(str(scene), golden_scene())
    with Predictor(bundle) as predictor:
        bundle = add_samples(bundle, [scene], predictor)
    write_manifest(root, bundle.manifest.model_copy(update={"name": "colour", "version": version}))
    load_bundle(root)
    return root


def live_frames(seed: int = 0, colours: tuple[str, ...] = ("red", "green", "blue")) -> Iterator[np.ndarray]:
    """Endless 320x320 frames, each with 1-3 grid-aligned squares of the given colours (no overlaps)."""
    rng = np.random.default_rng(seed)
    cells = SIZE // CELL
    while True:
        image = np.full((SIZE, SIZE, 3), 128, np.uint8)
        slots = rng.permutation(4)[: int(rng.integers(1, 4))]  # four quadrants, one square each
        for slot in slots:
            qy, qx = divmod(int(slot), 2)
            side = int(rng.integers(1, cells // 2))
            y0 = qy * (cells // 2) + int(rng.integers(0, cells // 2 - side + 1))
            x0 = qx * (cells // 2) + int(rng.integers(0, cells // 2 - side + 1))
            colour = colours[int(rng.integers(0, len(colours)))]
            image[y0 * CELL : (y0 + side) * CELL, x0 * CELL : (x0 + side) * CELL] = BGR[colour]
        yield image


# ---------------------------------------------------------------------------------------------
# Graph surgery on the good model (output "output0": (1, 7, N) = cx cy w h red green blue)


def _tail(model: onnx.ModelProto, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> None:
    """Rename the producer of ``output0`` to ``raw0``; ``nodes`` compute ``output0`` from it."""
    for node in model.graph.node:
        node.output[:] = ["raw0" if o == "output0" else o for o in node.output]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)


def _channel_scale(model: onnx.ModelProto, channel: int, factor: float) -> None:
    scale = np.ones((1, 7, 1), np.float32)
    scale[0, channel, 0] = factor
    _tail(
        model,
        [helper.make_node("Mul", ["raw0", "bad_scale"], ["output0"])],
        [numpy_helper.from_array(scale, "bad_scale")],
    )


def _nan(model: onnx.ModelProto) -> None:
    nan = numpy_helper.from_array(np.array(np.nan, np.float32), "bad_nan")
    _tail(model, [helper.make_node("Mul", ["raw0", "bad_nan"], ["output0"])], [nan])


def _inf(model: onnx.ModelProto) -> None:
    offset = np.zeros((1, 7, 1), np.float32)
    offset[0, 0, 0] = np.inf
    _tail(
        model,
        [helper.make_node("Add", ["raw0", "bad_inf"], ["output0"])],
        [numpy_helper.from_array(offset, "bad_inf")],
    )


def _rename(model: onnx.ModelProto, old: str, new: str) -> None:
    for node in model.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for value in [*model.graph.input, *model.graph.output]:
        if value.name == old:
            value.name = new


def _drop_class(model: onnx.ModelProto) -> None:
    starts, ends, axes = (np.array([v], np.int64) for v in (0, 6, 1))
    inits = [numpy_helper.from_array(a, n) for a, n in ((starts, "bad_s"), (ends, "bad_e"), (axes, "bad_a"))]
    _tail(model, [helper.make_node("Slice", ["raw0", "bad_s", "bad_e", "bad_a"], ["output0"])], inits)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 6


def _zero_added(
    model: onnx.ModelProto, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], src: str
) -> None:
    """``output0 = raw0 + 0 * mean(src)``: the extra work changes no value but cannot be skipped."""
    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "bad_zero"))
    nodes += [
        helper.make_node("ReduceMean", [src], ["bad_mean"], keepdims=0),
        helper.make_node("Mul", ["bad_mean", "bad_zero"], ["bad_nothing"]),
        helper.make_node("Add", ["raw0", "bad_nothing"], ["output0"]),
    ]
    _tail(model, nodes, inits)


def _matmuls(model: onnx.ModelProto, count: int) -> None:
    """``count`` chained (ROWS x SIDE) x (SIDE x SIDE) products on the first pixels of the image."""
    q, _ = np.linalg.qr(
        np.random.default_rng(0).standard_normal((SIDE, SIDE))
    )  # orthogonal: values stay bounded
    inits = [
        numpy_helper.from_array(q.astype(np.float32), "bad_w"),
        numpy_helper.from_array(np.array([3 * SIZE * SIZE // SIDE, SIDE], np.int64), "bad_shape"),
        numpy_helper.from_array(np.array([0], np.int64), "bad_from"),
        numpy_helper.from_array(np.array([ROWS], np.int64), "bad_rows"),
    ]
    nodes = [
        helper.make_node("Reshape", ["images", "bad_shape"], ["bad_all"]),
        helper.make_node("Slice", ["bad_all", "bad_from", "bad_rows"], ["bad_m0"]),
    ]
    for i in range(count):
        nodes.append(helper.make_node("MatMul", [f"bad_m{i}", "bad_w"], [f"bad_m{i + 1}"]))
    _zero_added(model, nodes, inits, f"bad_m{count}")


def _endless(model: onnx.ModelProto) -> None:
    state_in = helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [])
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Sin", ["s_in"], ["s_out"]),
        ],
        "forever",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            state_in,
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_out", TensorProto.FLOAT, []),
        ],
    )
    inits = [
        numpy_helper.from_array(np.array(2**62, np.int64), "bad_trips"),
        numpy_helper.from_array(np.array(True), "bad_true"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["bad_start"], keepdims=0),
        helper.make_node("Loop", ["bad_trips", "bad_true", "bad_start"], ["bad_end"], body=body),
    ]
    _zero_added(model, nodes, inits, "bad_end")


def _ratio(good: Path, candidate: Path) -> float:
    """Candidate / good median latency, measured the way the health check measures it."""
    with Predictor(good, DEFAULT_BACKEND) as prev, Predictor(candidate, DEFAULT_BACKEND) as cand:
        timed = latency(cand, prev, runs=15)
    return timed.ratio if timed.ratio is not None else float("inf")


def _slow_model(good: Path, out: Path, ratio: float = 10.0) -> None:
    """Write a model ~``ratio`` x slower than ``good``: its MatMul count is calibrated on this machine."""
    count = 16
    tried: dict[int, float] = {}
    for _ in range(4):
        model = onnx.load(str(good / "model.onnx"))
        _matmuls(model, count)
        onnx.save(model, str(out / "model.onnx"))
        _seal(out)
        tried[count] = _ratio(good, out)
        extra_per = max((tried[count] - 1.0) / count, 1e-3)
        wanted = max(1, round((ratio - 1.0) / extra_per))
        if wanted in tried or abs(wanted - count) <= max(1, count // 10):
            break
        count = wanted
    best = min(tried, key=lambda c: abs(tried[c] - ratio))
    if best != count:
        model = onnx.load(str(good / "model.onnx"))
        _matmuls(model, best)
        onnx.save(model, str(out / "model.onnx"))
        _seal(out)


EDITS: dict[str, Callable[[onnx.ModelProto], None]] = {
    "nan_outputs": _nan,
    "inf_outputs": _inf,
    "wrong_input_name": lambda m: _rename(m, "images", "input"),
    "wrong_output_name": lambda m: _rename(m, "output0", "detections"),
    "class_list_changed": _drop_class,
    "crash_worker": _endless,
    "worse_golden": lambda m: _channel_scale(m, 5, 0.1),
    "worse_live": lambda m: _channel_scale(m, 6, 0.1),
}


def _seal(dest: Path, **updates: object) -> None:
    """Rewrite ``bundle.json`` so its first variant's sha256 and size match the file now there."""
    manifest = read_manifest(dest)
    variant = manifest.variants[0]
    path = dest / variant.file
    fresh = variant.model_copy(update={"sha256": sha256_file(path), "size_bytes": path.stat().st_size})
    write_manifest(dest, manifest.model_copy(update={**updates, "variants": [fresh, *manifest.variants[1:]]}))


def build_candidate(good: Path, kind: str, dest: Path, version: str = "2") -> Path:
    """A complete, unsigned bundle of ``kind`` in ``dest`` made from the good bundle ``good``."""
    if kind not in KINDS:
        raise ValueError(f"unknown bad-model kind {kind!r}; choose one of {', '.join(KINDS)}")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(good, dest, ignore=shutil.ignore_patterns("bundle.sig"))
    manifest = load_bundle(dest).manifest
    path = dest / manifest.variants[0].file
    if kind == "fails_to_load":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "slow_10x":
        _slow_model(good, dest)
    else:
        model = onnx.load(str(path))
        EDITS[kind](model)
        onnx.save(model, str(path))
    updates: dict[str, object] = {"version": version}
    if kind == "class_list_changed":
        updates["names"] = manifest.names[:2]
    _seal(dest, **updates)
    return dest


def build_corpus(folder: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, Path]:
    """The good bundle (``folder/good``) and one unsigned candidate per kind (``folder/<kind>``)."""
    good = good_bundle(folder)
    return {kind: build_candidate(good, kind, folder / kind) for kind in kinds}


def sign_candidate(bundle_dir: Path, keys_dir: Path) -> Path:
    """Sign ``bundle_dir`` with the key folder ``keys_dir`` (next release counter)."""
    sign_bundle(bundle_dir, load_signer(keys_dir), next_counter(keys_dir))
    return bundle_dir
