"""``edgeloop eval``: score a bundle on a labelled dataset (COCO mAP, or top-1/top-5 accuracy)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.backend_options import backend_option, backend_settings, device_option, threads_option
from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.data.dataset import Dataset
    from edgeloop.evaluate import ClassificationReport, DetectionReport
    from edgeloop.predictor import Predictor


@handle_errors
def evaluate(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar."),
    dataset: Path = typer.Argument(..., help="Labelled dataset folder (yolo, coco, voc or class folders)."),
    conf: float = typer.Option(
        0.001, min=0, max=1, help="Confidence threshold (low, to trace the whole PR curve)."
    ),
    iou: float = typer.Option(0.7, min=0, max=1, help="NMS IoU threshold."),
    max_det: int = typer.Option(300, "--max-det", min=1, help="Most detections per image kept by NMS."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
    plots: Path | None = typer.Option(None, "--plots", help="Write PR curve and confusion matrix PNGs here."),
    dataset_format: str | None = typer.Option(
        None, "--from", help="Format of DATASET: yolo, coco, voc, folders (default: detected)."
    ),
    backend: str = backend_option(),
    device: str | None = device_option(),
    threads: int = threads_option(),
    precision: str | None = typer.Option(None, help="Bundle variant to run: fp32, fp16, int8."),
    split: str | None = typer.Option(
        None, "--split", help="Split to score: train, val, test or all [val, else test, else all]."
    ),
) -> None:
    """Evaluate a bundle on a labelled dataset: mAP50 and mAP50-95 per class, or accuracy."""
    from edgeloop.data.splits import load_split
    from edgeloop.predictor import Predictor

    config = backend_settings(backend, device, threads)
    chosen = load_split(dataset, split, dataset_format)
    ds = chosen.dataset
    started = time.perf_counter()
    with Predictor(bundle, config, precision=precision) as predictor:
        report, written = _run(predictor, ds, conf, iou, max_det, plots)
    seconds = time.perf_counter() - started
    _print_table(report)
    err.print(f"{report.images} images of {_split_text(chosen.split, chosen.available)} in {seconds:.1f} s")
    for path in written:
        err.print(f"wrote {path}")
    if as_json:
        out = {
            **report.to_json(),
            "bundle": str(bundle),
            "dataset": str(dataset),
            "split": chosen.split,
            "settings": {"conf": conf, "iou": iou, "max_det": max_det, "backend": backend},
            "plots": [str(p) for p in written],
        }
        stdout_line(json.dumps(out))


def _run(
    predictor: Predictor, ds: Dataset, conf: float, iou: float, max_det: int, plots: Path | None
) -> tuple[DetectionReport | ClassificationReport, list[Path]]:
    from edgeloop import evaluate as ev

    if ds.task == "classify":
        results = ev.classify_dataset(predictor, ds)
        creport = ev.classification_metrics(ds, results)
        written: list[Path] = []
        if plots is not None:
            from edgeloop.evaluate.plots import classification_plots

            written = classification_plots(ds.names, creport.confusion, plots)
        return creport, written
    detections = ev.predict_dataset(predictor, ds, conf=conf, iou=iou, max_det=max_det)
    dreport = ev.detection_metrics(ds, detections)
    written = []
    if plots is not None:
        from edgeloop.evaluate.plots import detection_plots

        written = detection_plots(ds, detections, plots)
    return dreport, written


def _split_text(split: str, available: tuple[str, ...]) -> str:
    """Which images were scored, e.g. "split val (of train, val)"."""
    if not available:
        return "the whole dataset (it has no train/val splits)"
    if split == "all":
        return f"all splits ({', '.join(available)})"
    return f"split {split} (of {', '.join(available)}; --split picks another)"


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _print_table(report: DetectionReport | ClassificationReport) -> None:
    from rich.table import Table

    from edgeloop.evaluate import DetectionReport

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    if isinstance(report, DetectionReport):
        for column in ("class", "instances", "AP50", "AP50-95"):
            table.add_column(column, justify="left" if column == "class" else "right")
        total = sum(int(row["instances"]) for row in report.per_class.values())
        table.add_row("all", str(total), _fmt(report.map50), _fmt(report.map50_95), style="bold")
        for name, row in report.per_class.items():
            table.add_row(name, str(int(row["instances"])), _fmt(row["ap50"]), _fmt(row["ap50_95"]))
    else:
        for column in ("class", "images", "accuracy"):
            table.add_column(column, justify="left" if column == "class" else "right")
        table.add_row("all (top-1)", str(report.images), _fmt(report.top1), style="bold")
        table.add_row("all (top-5)", str(report.images), _fmt(report.top5), style="bold")
        for name, row in report.per_class.items():
            table.add_row(name, str(int(row["instances"])), _fmt(row["accuracy"]))
    err.print(table)
