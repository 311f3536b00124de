"""``edgeloop optimize``: a new bundle with INT8 / FP16 / OpenVINO variants, measured and gated.

Each new variant gets its sha256, precision, backends and metrics (mAP50 and
mAP50-95 on a held-out dataset, median latency measured interleaved against
FP32 in the same run). A variant that loses more than ``max_drop`` points of
mAP50-95 is kept but never becomes the default. The source bundle is only read.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from edgeloop.backends import BackendConfig, parse_backend_config
from edgeloop.backends.config import sharing_process
from edgeloop.bundle import Bundle, Manifest, Variant, load_bundle, sha256_file, write_manifest
from edgeloop.errors import BundleError, ConfigError
from edgeloop.evaluate import DetectionReport
from edgeloop.export.quantize import QuantizeConfig
from edgeloop.imaging import read_image
from edgeloop.predictor import Predictor
from edgeloop.progress import progress_bar


class OptimizeOptions(BaseModel):
    """What ``edgeloop optimize`` was asked to make."""

    model_config = ConfigDict(extra="forbid")

    int8: bool = False
    fp16: bool = False
    openvino: bool = False
    ncnn: bool = False
    calib: Path | None = None
    calib_images: int = Field(default=200, ge=1)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    eval: Path | None = None
    max_drop: float = Field(default=1.0, ge=0, description="mAP50-95 points a default may lose")
    latency_runs: int = Field(default=30, ge=3)
    progress: bool = True
    target: Literal["myriad", "rvc4"] | None = Field(
        default=None,
        description="a device's model instead: myriad (OAK RVC2, NCS2; compiled in a container) or "
        "rvc4 (OAK4; packs the --dlc given)",
    )
    dlc: Path | None = Field(default=None, description="--target rvc4: the .dlc Luxonis' tools compiled")
    shaves: int = Field(default=6, ge=1, le=16, description="Myriad X SHAVE cores the blob uses")
    from_recipe: Path | None = Field(
        default=None, description="take the blob a --print-recipe folder's run.sh compiled elsewhere"
    )


@dataclass
class VariantReport:
    """One variant of the output bundle and how it measured."""

    file: str
    precision: str
    backend: str
    metrics: dict[str, float] = field(default_factory=dict)
    accepted: bool | None = None  # None: not gated (no --eval, or the baseline itself)


@dataclass
class OptimizeReport:
    """What ``optimize`` produced."""

    out: Path
    default_variant: str
    variants: list[VariantReport]
    warnings: list[str]


def _dataset_images(path: Path) -> list[Path]:
    """Images of a dataset in any format edgeloop reads, or of a plain folder of images."""
    from edgeloop.data.dataset import list_images
    from edgeloop.data.formats import load_dataset
    from edgeloop.errors import DatasetError

    try:
        return [item.image for item in load_dataset(path).items]
    except DatasetError:
        if path.is_dir() and (images := list_images(path)):
            return images
        raise


def _copy_bundle(src: Bundle, out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} already exists and is not empty: choose a new --out folder")
    if out.resolve() == src.root.resolve():
        raise BundleError("--out is the source bundle: optimize writes a new bundle, choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest = src.manifest
    names = [v.file for v in manifest.variants] + [s.file for s in manifest.samples]
    names += [n for v in manifest.variants for n in v.extra_files]
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.path(name), target)


def _variant(
    out: Path, file: str, precision: str, backends: list[str], extra: tuple[str, ...] = ()
) -> Variant:
    path = out / file
    return Variant(
        file=file,
        precision=precision,
        backends=backends,
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        extra_files={name: sha256_file(out / name) for name in extra},
    )


def _make_variants(src: Bundle, out: Path, options: OptimizeOptions) -> list[Variant]:
    """Write the requested model files into ``out`` and describe them."""
    from edgeloop.export.quantize import PreprocessCalibrationReader, convert_fp16, pick_images, quantize_int8

    base = src.manifest.variant("fp32")
    base_path = out / base.file
    taken = {v.file for v in src.manifest.variants}
    made: list[Variant] = []

    def new_file(name: str) -> str:
        if name in taken:
            raise BundleError(f"the source bundle already has {name}: optimize a bundle without it")
        taken.add(name)
        return name

    if options.int8:
        if options.calib is None:
            raise ConfigError("--int8 needs calibration images: add --calib DATASET (a few hundred images)")
        images = pick_images(_dataset_images(options.calib), options.calib_images)
        name = new_file("model.int8.onnx")
        input_name = _input_name(base_path)
        with progress_bar(len(images), "calibrating INT8", options.progress) as advance:
            reader = PreprocessCalibrationReader(images, src.manifest.input, input_name, advance)
            quantize_int8(base_path, out / name, reader, options.quantize)
        made.append(_variant(out, name, "int8", ["onnxruntime"]))
    if options.fp16:
        name = new_file("model.fp16.onnx")
        convert_fp16(base_path, out / name)
        made.append(_variant(out, name, "fp16", ["onnxruntime"]))
    if options.openvino:
        from edgeloop.export.openvino_ir import convert_to_ir

        sources = [(base.file, "fp32", "openvino/model.xml")]
        sources += [(v.file, "int8", "openvino/model.int8.xml") for v in made if v.precision == "int8"]
        for onnx_file, precision, xml in sources:
            _, bin_path = convert_to_ir(out / onnx_file, out / new_file(xml))
            made.append(_variant(out, xml, precision, ["openvino"], (bin_path.relative_to(out).as_posix(),)))
    if options.ncnn:
        made.append(_ncnn_variant(src, out, base.file, new_file("ncnn/model.ncnn.param")))
    return made


def _ncnn_variant(src: Bundle, out: Path, onnx_file: str, param_file: str) -> Variant:
    """ncnn's param + bin (and the map of its blob names to the ONNX ones) converted with pnnx, FP32."""
    from edgeloop.export.ncnn import bundle_input_shape, convert_onnx_to_ncnn

    param_path = out / param_file
    shape = bundle_input_shape(out / onnx_file, src.manifest.input.size_hw, src.manifest.input.layout)
    _, bin_path = convert_onnx_to_ncnn(out / onnx_file, param_path.parent, shape)
    extra = (bin_path, param_path.with_suffix(".json"))
    return _variant(out, param_file, "fp32", ["ncnn"], tuple(p.relative_to(out).as_posix() for p in extra))


def _input_name(model_path: Path) -> str:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


def _backend_of(variant: Variant) -> str:
    return variant.backends[0] if variant.backends else "onnxruntime"


def backend_for(variant: Variant) -> BackendConfig:
    """Default settings of the backend a variant is made for; several are measured
    interleaved in one process, so none may busy-wait."""
    return sharing_process(parse_backend_config(_backend_of(variant)))


def _predictor(bundle: Bundle, variant: Variant) -> Predictor:
    predictor = Predictor(bundle, backend_for(variant), precision=variant.precision)
    if predictor.variant.file != variant.file:  # two variants of one precision and backend
        predictor.close()
        raise BundleError(f"cannot select variant {variant.file} by precision and backend alone")
    return predictor


def measure_latency(
    predictors: dict[str, Predictor], tensor: npt.NDArray[np.generic], runs: int
) -> dict[str, float]:
    """Median inference milliseconds per predictor, interleaved round by round.

    Interleaving makes every variant see the same machine load, so the ratios
    hold on a shared, noisy machine even when absolute times drift.
    """
    timings: dict[str, list[float]] = {name: [] for name in predictors}
    for round_index in range(runs + 3):  # three warm-up rounds
        for name, predictor in predictors.items():
            start = time.perf_counter()
            predictor.infer(tensor)
            if round_index >= 3:
                timings[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def _measure(bundle: Bundle, options: OptimizeOptions, reports: list[VariantReport]) -> None:
    """Fill each report's metrics: mAP on ``options.eval`` (when given) and interleaved latency."""
    by_file = {v.file: v for v in bundle.manifest.variants}
    predictors = {r.file: _predictor(bundle, by_file[r.file]) for r in reports}
    try:
        dataset = None
        if options.eval is not None:
            from edgeloop.data.formats import load_dataset
            from edgeloop.evaluate import evaluate

            dataset = load_dataset(options.eval)
            for report in reports:
                result = evaluate(
                    predictors[report.file], dataset, progress=options.progress and sys.stderr.isatty()
                )
                if isinstance(result, DetectionReport):
                    report.metrics.update(map50=result.map50, map50_95=result.map50_95)
                else:
                    report.metrics.update(top1=result.top1, top5=result.top5)
        first = next(iter(predictors.values()))
        image = read_image(dataset.items[0].image) if dataset is not None and len(dataset) else _grey(bundle)
        tensor = first.prepare(image).tensor
        latency = measure_latency(predictors, tensor, options.latency_runs)
        baseline = latency[reports[0].file]
        for report in reports:
            report.metrics["latency_ms"] = latency[report.file]
            report.metrics["speedup_vs_fp32"] = baseline / latency[report.file]
    finally:
        for predictor in predictors.values():
            predictor.close()


def _grey(bundle: Bundle) -> npt.NDArray[np.uint8]:
    h, w = bundle.manifest.input.size_hw
    return np.full((h, w, 3), 114, np.uint8)


def _gate(reports: list[VariantReport], options: OptimizeOptions, current: str) -> tuple[str, list[str]]:
    """Accept or refuse each variant against the FP32 baseline; choose the default."""
    baseline, warnings = reports[0], []
    default = current
    if options.eval is None:
        if len(reports) > 1:
            warnings.append(
                "no --eval dataset: accuracy of the new variants is unchecked, so the default stays "
                f"{current}; pass --eval DATASET to measure and gate them"
            )
        return default, warnings
    key = "map50_95" if "map50_95" in baseline.metrics else "top1"
    label = {"map50_95": "mAP50-95", "top1": "top-1 accuracy"}[key]
    for report in reports[1:]:
        drop = (baseline.metrics[key] - report.metrics[key]) * 100
        report.metrics[f"{key}_drop"] = drop
        report.accepted = drop <= options.max_drop
        if not report.accepted:
            warnings.append(
                f"{report.precision} variant {report.file} loses {drop:.1f} points of {label} against fp32 "
                f"({baseline.metrics[key] * 100:.1f} -> {report.metrics[key] * 100:.1f}), "
                f"more than --max-drop {options.max_drop:g}: kept in the bundle, not made the default"
            )
        elif report.precision == "int8" and report.backend == "onnxruntime":
            # Chosen by accuracy, not by a noisy timing; a slow INT8 is reported, not hidden.
            default = report.file
            if report.metrics["speedup_vs_fp32"] < 0.9:  # clearly slower, not timing noise
                warnings.append(
                    f"{report.file} ran {report.metrics['speedup_vs_fp32']:.2f}x the speed of fp32 here; "
                    "this CPU may lack fast int8 kernels (VNNI/dot-product): consider keeping fp32"
                )
    return default, warnings


def optimize(source: str | Path, out: str | Path, options: OptimizeOptions) -> OptimizeReport:
    """Write a new bundle at ``out``: ``source``'s files plus the requested variants, measured.

    Raises:
        BundleError: bad source or output folder.
        ConfigError: nothing to do, or INT8 without calibration images.
    """
    if options.target is not None:
        return _optimize_for_target(source, Path(out), options)
    if not (options.int8 or options.fp16 or options.openvino or options.ncnn):
        raise ConfigError("nothing to make: pass --int8, --fp16, --openvino and/or --ncnn (or --target)")
    src, out = load_bundle(source), Path(out)
    _copy_bundle(src, out)
    try:
        made = _make_variants(src, out, options)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    manifest: Manifest = src.manifest.model_copy(
        update={"variants": [*src.manifest.variants, *made], "signature": None}, deep=True
    )
    write_manifest(out, manifest)
    bundle = load_bundle(out)
    base = manifest.variant("fp32")
    reports = [VariantReport(v.file, v.precision, _backend_of(v)) for v in [base, *made]]
    _measure(bundle, options, reports)
    current = manifest.default_variant or manifest.variants[0].file
    default, warnings = _gate(reports, options, current)
    metrics = {r.file: r.metrics for r in reports}
    variants = [
        v.model_copy(update={"metrics": {**v.metrics, **metrics.get(v.file, {})}}) for v in manifest.variants
    ]
    chosen = metrics.get(default, {})
    top = {k: chosen[k] for k in ("map50", "map50_95", "top1", "top5") if k in chosen}
    manifest = manifest.model_copy(
        update={"variants": variants, "default_variant": default, "metrics": {**manifest.metrics, **top}}
    )
    write_manifest(out, manifest)
    load_bundle(out)  # what we wrote verifies
    return OptimizeReport(out, default, reports, warnings)


def _optimize_for_target(source: str | Path, out: Path, options: OptimizeOptions) -> OptimizeReport:
    """``--target myriad`` / ``rvc4``: a new bundle with the device's NN Archive as a variant. It
    runs on the device only, so nothing is measured here and the default variant is unchanged."""
    from edgeloop.export.myriad import myriad_files
    from edgeloop.export.nn_archive import rvc4_files

    if options.int8 or options.fp16 or options.openvino or options.ncnn or options.calib or options.eval:
        what = f"--target {options.target} makes its own model"
        raise ConfigError(f"{what}: leave out --int8, --fp16, --openvino, --ncnn, --calib and --eval")
    if (options.target == "rvc4") != (options.dlc is not None):
        raise ConfigError("--dlc FILE goes with --target rvc4 (a .dlc compiled by Luxonis' tools) only")
    src = load_bundle(source)
    _copy_bundle(src, out)
    try:
        if options.dlc is not None:
            files, precision = rvc4_files(src, out, options.dlc), "int8"
        else:
            files, precision = myriad_files(src, out, options.shaves, options.from_recipe), "fp16"
        made = [_variant(out, f, precision, ["depthai"], extra) for f, extra in files.items()]
        manifest = src.manifest.model_copy(
            update={"variants": [*src.manifest.variants, *made], "signature": None}, deep=True
        )
        write_manifest(out, manifest)
        load_bundle(out)  # what we wrote verifies
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    current = manifest.default_variant or manifest.variants[0].file
    reports = [VariantReport(v.file, v.precision, _backend_of(v)) for v in made]
    device = "an RVC2 OAK camera (--backend depthai)" if options.target == "myriad" else "an OAK4"
    warning = f"made for {options.target}, not measured here: run it on {device}"
    return OptimizeReport(out, current, reports, [warning])
