"""The gate report on disk: ``gate.json``, ``gate.md`` and one per-class bar chart per dataset.

The hub stores these files with the model version; ``gate.md`` is what a person reads
(verdict, reasons, overall and per-class tables for both models on both datasets).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError
from edgeloop.retrain.compare import Check
from edgeloop.retrain.gate import DatasetResult, GateReport
from edgeloop.retrain.scores import LABELS, METRICS


def write_report(report: GateReport, folder: str | Path) -> list[Path]:
    """Write ``gate.json``, ``gate.md`` and ``gate-<dataset>.png`` into ``folder`` (made if missing).

    Returns:
        the files written, ``gate.json`` first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "gate.json", folder / "gate.md"]
    written[0].write_text(json.dumps(report.as_dict(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    pngs = [class_bars_png(report, d, folder / f"gate-{d.role}.png") for d in report.datasets]
    written[1].write_text(markdown(report, [p.name for p in pngs]), encoding="utf-8")
    return [*written, *pngs]


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _delta(candidate: float | None, current: float | None) -> str:
    if candidate is None or current is None or math.isnan(candidate) or math.isnan(current):
        return "-"
    return f"{(candidate - current) * 100:+.1f}"


def _model_line(role: str, info: Any) -> str:
    if info is None:
        return f"- {role}: none (first model: judged on the min_map floor)"
    return f"- {role}: {info.name} version {info.version} (`{info.path}`)"


def markdown(report: GateReport, pngs: list[str] | None = None) -> str:
    """The report as Markdown."""
    lines = [
        f"# Gate: {report.verdict.upper()}",
        "",
        _model_line("candidate", report.candidate),
        _model_line("current", report.current),
        f"- task: {report.task}; gated metric: {LABELS[report.metric]}; {report.created}; "
        f"{report.seconds:.1f} s",
        "",
        "## Reasons" if report.reasons else "## Reasons: none, every check passed",
        *([""] if report.reasons else []),
        *[f"- {reason}" for reason in report.reasons],
    ]
    for d in report.datasets:
        lines += ["", *_dataset_section(report, d)]
        if pngs:
            name = next((p for p in pngs if p == f"gate-{d.role}.png"), None)
            if name:
                lines += ["", f"![per-class {LABELS[report.metric]} on {d.role}]({name})"]
    lines += ["", *_latency_section(report), *_int8_section(report)]
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    lines += ["## Rules", "", "| rule | value |", "|---|---|"]
    lines += [f"| {k} | {'-' if v is None else v} |" for k, v in report.rules.model_dump(mode="json").items()]
    return "\n".join(lines) + "\n"


def _class_check(checks: list[Check], dataset: str, name: str) -> str:
    found = next(
        (c for c in checks if c.rule == "class" and c.dataset == dataset and c.class_name == name), None
    )
    if found is None:
        return "skipped"
    return "pass" if found.passed else "**FAIL**"


def _dataset_section(report: GateReport, d: DatasetResult) -> list[str]:
    keys = METRICS[report.task]
    cand, cur = d.candidate, d.current
    lines = [
        f"## {d.role}: `{d.path}` (split {d.split}, {cand.images} images)",
        "",
        "| overall | candidate | current | change (points) |",
        "|---|---:|---:|---:|",
    ]
    for key in keys:
        after, before = cand.overall[key], cur.overall[key] if cur is not None else None
        lines.append(f"| {LABELS[key]} | {_num(after)} | {_num(before)} | {_delta(after, before)} |")
    header = "| class | instances |"
    rule = "|---|---:|"
    for key in keys[:1] if report.task == "classify" else keys:
        header += f" {LABELS[key]} cand | {LABELS[key]} cur | change |"
        rule += "---:|---:|---:|"
    lines += ["", header + " class rule |", rule + "---|"]
    for name, row in cand.per_class.items():
        cells = f"| {name} | {int(row['instances'])} |"
        for key in keys[:1] if report.task == "classify" else keys:
            before = cur.per_class[name].get(key) if cur is not None else None
            cells += f" {_num(row.get(key))} | {_num(before)} | {_delta(row.get(key), before)} |"
        verdict = _class_check(report.checks, d.role, name) if cur is not None else "-"
        lines.append(f"{cells} {verdict} |")
    return lines


def _latency_section(report: GateReport) -> list[str]:
    lat = report.latency
    if lat is None:
        return []
    current = f"{lat.current_ms:.2f} ms" if lat.current_ms is not None else "-"
    total = f" (whole pipeline {lat.candidate_total_ms:.2f} ms)" if lat.candidate_total_ms is not None else ""
    return [
        "## Latency",
        "",
        f"On {lat.where}, {lat.precision}: candidate {lat.candidate_ms:.2f} ms{total}, current {current}, "
        f"budget {report.rules.latency_budget_ms:g} ms.",
        "",
    ]


def _int8_section(report: GateReport) -> list[str]:
    q = report.int8
    if q is None:
        return []
    verdict = (
        "accepted (the INT8 variant is the default)" if q.accepted else "refused (FP32 stays the default)"
    )
    drop = "-" if q.drop is None else f"{-q.drop:+.1f}"
    speed = f" Speed {q.speedup:.2f}x FP32 here." if q.speedup is not None else ""
    lines = [
        "## INT8 (optimize's own gate)",
        "",
        f"{verdict}: {LABELS[q.metric]} FP32 {_num(q.fp32)} -> INT8 {_num(q.int8)} ({drop} points), "
        f"limit -{q.limit:.1f}.{speed}",
    ]
    if q.bundle:
        lines.append(f"Optimized bundle: `{q.bundle}`.")
    lines += [f"- {w}" for w in q.warnings]
    return [*lines, ""]


def class_bars_png(report: GateReport, d: DatasetResult, path: Path) -> Path:
    """Grouped bars: the gated metric per class (and overall), current beside candidate."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeloopError("the gate report's plots need matplotlib: pip install 'edgeloop[eval]'") from None
    import numpy as np

    key = report.metric
    names = ["overall", *d.candidate.per_class]
    cand = [d.candidate.overall[key], *(row[key] for row in d.candidate.per_class.values())]
    fig = Figure(figsize=(max(6.0, 1.0 + 0.7 * len(names)), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(names))
    width = 0.4
    if d.current is not None:
        cur = [d.current.overall[key], *(d.current.per_class[n][key] for n in names[1:])]
        ax.bar(x - width / 2, np.nan_to_num(cur), width, label="current", color="#9aa5b1")
    ax.bar(
        x + (width / 2 if d.current is not None else 0),
        np.nan_to_num(cand),
        width,
        label="candidate",
        color="#2f80ed",
    )
    ax.set_xticks(x, names, rotation=30 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center")
    ax.set_ylim(0, 1)
    ax.set_ylabel(LABELS[key])
    ax.set_title(f"{LABELS[key]} per class on {d.role} ({d.candidate.images} images): {report.verdict}")
    ax.legend(loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
