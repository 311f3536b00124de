"""``edgeloop gate``: does a retrained candidate bundle replace the current one?"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.retrain.gate import DatasetResult, GateReport

REFUSED = 3  # exit code of a refused candidate (1 stays "the command failed")


@handle_errors
def gate(
    candidate: Path = typer.Argument(..., help="Candidate bundle folder or .tar."),
    current: Path | None = typer.Option(
        None, "--current", help="The model in service (bundle); leave out for a first model."
    ),
    test: Path = typer.Option(..., "--test", help="Fixed test dataset (its test split when it has splits)."),
    field: Path | None = typer.Option(
        None, "--field", help="Newest field dataset (any format edgeloop reads)."
    ),
    rules_file: Path | None = typer.Option(
        None, "--rules", help="Gate rules, YAML or JSON (default rules else)."
    ),
    report_dir: Path | None = typer.Option(
        None, "--report", help="Write gate.json, gate.md and per-class PNGs into this folder."
    ),
    int8_out: Path | None = typer.Option(
        None, "--int8-out", help="With int8 in the rules: keep the optimized bundle in this new folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
) -> None:
    """Compare CANDIDATE with --current on --test and --field; exit 0 passed, 3 refused."""
    from edgeloop.retrain.gate import run_gate
    from edgeloop.retrain.rules import GateRules, load_rules

    rules = load_rules(rules_file) if rules_file is not None else GateRules()
    report = run_gate(candidate, current, test, field, rules, progress=err.is_terminal, int8_out=int8_out)
    _print(report)
    if report_dir is not None:
        from edgeloop.retrain.report import write_report

        for path in write_report(report, report_dir):
            err.print(f"wrote {path}")
    if as_json:
        stdout_line(json.dumps(report.as_dict(), allow_nan=False))
    if not report.passed:
        raise typer.Exit(REFUSED)


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _table(report: GateReport, d: DatasetResult) -> None:
    from rich.table import Table

    from edgeloop.retrain.scores import LABELS

    key, label = report.metric, LABELS[report.metric]
    table = Table(
        title=f"{d.role}: {d.path} ({d.split}, {d.candidate.images} images)", box=None, pad_edge=False
    )
    for column in ("class", "instances", f"{label} current", f"{label} candidate", "change"):
        table.add_column(column, justify="left" if column == "class" else "right")
    rows: list[tuple[str, int | None, float, float | None]] = [
        ("overall", None, d.candidate.overall[key], d.current.overall[key] if d.current else None)
    ]
    rows += [
        (name, int(row["instances"]), row[key], d.current.per_class[name][key] if d.current else None)
        for name, row in d.candidate.per_class.items()
    ]
    for name, instances, after, before in rows:
        change = (
            "-"
            if before is None or math.isnan(before) or math.isnan(after)
            else f"{(after - before) * 100:+.1f}"
        )
        table.add_row(name, "" if instances is None else str(instances), _fmt(before), _fmt(after), change)
    err.print(table)


def _print(report: GateReport) -> None:
    from edgeloop.retrain.scores import LABELS

    for d in report.datasets:
        _table(report, d)
    if report.latency is not None:
        lat = report.latency
        was = f", current {lat.current_ms:.2f} ms" if lat.current_ms is not None else ""
        err.print(f"latency on {lat.where}: candidate {lat.candidate_ms:.2f} ms{was}")
    if report.int8 is not None:
        q = report.int8
        verdict = "accepted" if q.accepted else "refused"
        change = f"{_fmt(q.fp32)} -> {_fmt(q.int8)} (limit -{q.limit:g} points)"
        err.print(f"INT8 variant {verdict} by optimize's gate: {LABELS[q.metric]} {change}")
    for note in report.notes:
        err.print(f"note: {note}")
    if report.passed:
        err.print("[bold green]gate passed[/]: the candidate may replace the current model", markup=True)
        return
    err.print(f"[bold red]gate refused[/] ({len(report.reasons)} reasons):", markup=True)
    for reason in report.reasons:
        err.print(f"  {reason}", markup=False)
