"""Export a training run to a bundle: one self-contained ONNX file, checked against torch.

Only this module and ``edgeloop.train`` import torch (the synthetic test models in
``edgeloop.testing`` use the onnx helper API). The bundle records the validation
metrics, class names, preprocessing and a dataset fingerprint, and carries a few
validation images with the detections the exported model gives on them, so a
device can check itself before serving.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgeloop.bundle import Bundle, Manifest, Provenance, Variant, load_bundle, sha256_file, write_manifest
from edgeloop.data.dataset import Dataset
from edgeloop.errors import BundleError, TrainError
from edgeloop.evaluate.run import BlindCheck
from edgeloop.train import checkpoint
from edgeloop.train.finetune import remap
from edgeloop.train.model import ClassifierExport, Detector, DetectorExport
from edgeloop.train.split import train_val
from edgeloop.train.validate import ValSet, input_spec

MODEL_FILE = "model.onnx"
OPSET = 17
# ONNX Runtime vs torch on real validation images, relative to each value's size: box
# coordinates are pixels (hundreds), scores are in [0, 1]; float32 kernels differ in the last bits.
# A wrong export differs by whole units; 1e-4 refused a sound model trained at a high learning rate
# (3.7e-4 on a box side of ~3 px: the DFL softmax sums in another order), so the bar is 1e-3.
MAX_REL_DIFF = 1e-3


@dataclass(frozen=True)
class ExportReport:
    """What ``export_run`` produced and how closely ONNX Runtime reproduces torch."""

    bundle: Bundle
    checkpoint: Path
    max_abs_diff: float
    parameters: int
    blind: BlindCheck | None = None  # detectors: validation images where nothing is found at the default conf


def _onnx_export(module: torch.nn.Module, imgsz: int, path: Path) -> None:
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    torch.onnx.export(
        module,
        (dummy,),
        str(path),
        input_names=["images"],
        output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,  # one self-contained file; the dynamo exporter writes weights beside it
    )


def _metadata(path: Path, names: list[str], imgsz: int, task: str) -> None:
    """Ultralytics-style metadata, so `edgeloop import` and other tools read the file on its own."""
    import onnx

    model = onnx.load(str(path))
    props = {
        "author": "edgeloop",
        "task": task,
        "stride": "32",
        "imgsz": f"[{imgsz}, {imgsz}]",
        "names": str(dict(enumerate(names))),
    }
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def _compare(module: torch.nn.Module, path: Path, tensors: torch.Tensor) -> tuple[float, float]:
    """Max absolute and max relative (to max(|value|, 1)) difference of ONNX Runtime from torch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(tensors).numpy()
    got = session.run(None, {"images": tensors.numpy()})[0]
    diff = np.abs(got - expected)
    return float(diff.max()), float((diff / np.maximum(np.abs(expected), 1.0)).max())


def export_run(
    run: str | Path,
    out: str | Path,
    name: str | None = None,
    samples: int = 3,
    parent_version: str | None = None,
) -> ExportReport:
    """Write a verified bundle folder ``out`` from the best checkpoint of ``run``.

    The provenance names the run folder and the checkpoint's fingerprint (so ``--init BUNDLE`` finds
    the training weights while the run is there) and ``parent_version``: the given one (a registry
    version), else the fingerprint of the checkpoint a fine-tuned run started from.

    Raises:
        TrainError: no checkpoint, or ONNX Runtime disagrees with torch.
        BundleError: ``out`` exists and is not empty.
    """
    run, out = Path(run), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} already exists and is not empty: choose a new --out")
    ckpt = checkpoint.best_or_last(run)
    payload = checkpoint.load(ckpt)
    model, config, names, task = checkpoint.restore(payload)
    module: DetectorExport | ClassifierExport
    if isinstance(model, Detector):
        module = DetectorExport(model, (config.imgsz, config.imgsz))
    else:
        module = ClassifierExport(model)
    module.eval()
    _, val_ds = train_val(config)
    if list(val_ds.names) != names:  # a fine-tuned model: the parent's classes, then the data's new ones
        val_ds = remap(val_ds, names)
    val = ValSet.build(val_ds, config.imgsz)
    with tempfile.TemporaryDirectory(
        prefix=".export-", dir=out.parent if out.parent.exists() else None
    ) as tmp:
        onnx_path = Path(tmp) / MODEL_FILE
        _onnx_export(module, config.imgsz, onnx_path)
        _metadata(onnx_path, names, config.imgsz, task)
        diff, relative = _compare(module, onnx_path, val.tensors[:8])
        if relative > MAX_REL_DIFF:
            raise TrainError(
                f"ONNX Runtime output differs from torch by {diff:.2e} ({relative:.1e} relative, "
                f"> {MAX_REL_DIFF}); report this"
            )
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, out / MODEL_FILE)
    metrics = {k: round(float(v), 6) for k, v in dict(payload.get("metrics", {})).items()}
    manifest = Manifest(
        name=name or (re.sub(r"[^A-Za-z0-9._-]", "-", run.resolve().name).strip("-._") or "model"),
        task=task,
        family="yolo" if task == "detect" else "classify",
        input=input_spec(config.imgsz),
        names=names,
        variants=[
            Variant(
                file=MODEL_FILE,
                sha256=sha256_file(out / MODEL_FILE),
                size_bytes=(out / MODEL_FILE).stat().st_size,
                metrics=metrics,
            )
        ],
        metrics=metrics,
        provenance=Provenance.model_validate(
            {
                "source": f"edgeloop train ({config.model}, epoch {payload.get('epoch')}, {ckpt.name})",
                "dataset_fingerprint": str(payload.get("dataset_fingerprint") or ""),
                "parent_version": parent_version or payload.get("parent"),
                "val_images": len(val_ds),
                "max_abs_diff": diff,
                "run": str(run.resolve()),
                "checkpoint_sha256": sha256_file(ckpt),
            }
        ),
    )
    write_manifest(out, manifest)
    bundle, blind = _samples_and_check(load_bundle(out), val_ds, samples)
    return ExportReport(bundle, ckpt, diff, sum(p.numel() for p in model.parameters()), blind)


def _samples_and_check(bundle: Bundle, val_ds: Dataset, samples: int) -> tuple[Bundle, BlindCheck | None]:
    """Add golden samples, and count validation images a detector is blind to at its default conf."""
    from edgeloop.evaluate.run import blind_check
    from edgeloop.predictor import Predictor
    from edgeloop.samples import add_samples

    with Predictor(bundle) as predictor:
        if samples:
            bundle = add_samples(bundle, [item.image for item in val_ds.items[:samples]], predictor)
        blind = blind_check(predictor, val_ds) if val_ds.task == "detect" else None
    return bundle, blind
