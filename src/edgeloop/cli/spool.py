"""``edgeloop spool``: look into a capture spool, export it for labelling, prune it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.improve.inventory import SampleFilter, SpoolStatus
    from edgeloop.improve.policy import Budget

app = typer.Typer(
    help="Look into a capture spool (status, ls), export it for labelling, prune it.",
    no_args_is_help=True,
)

SPOOL = typer.Argument(..., help="Spool folder (the --spool of run, serve or capture).")
STATE = typer.Option("held", "--state", help="held (captured or queued), captured, queued, acked or all.")
SAMPLER = typer.Option(None, "--sampler", help="Only samples kept by this sampler.")
CLASS = typer.Option(None, "--class", help="Only samples whose predictions include this class.")
SINCE = typer.Option(None, "--since", help="Only samples captured since: a duration ago (12h, 7d) or a date.")


def _filter(
    state: str, sampler: str | None, class_name: str | None, since: str | None, limit: int | None = None
) -> SampleFilter:
    from edgeloop.improve.inventory import SampleFilter, parse_time

    return SampleFilter(state, sampler, class_name, None if since is None else parse_time(since), None, limit)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _budget(policy: Path | None) -> tuple[Budget, str]:
    from edgeloop.improve.policy import Budget, load_policy

    if policy is None:
        return Budget(), "default budget; pass --policy for yours"
    return load_policy(policy).budget, str(policy)


def render_status(status: SpoolStatus, budget: Budget, budget_from: str) -> list[str]:
    """``spool status`` as text lines."""
    from edgeloop.improve.inventory import iso_utc

    c = status.counters
    states = ", ".join(f"{s} {status.by_state.get(s, 0)}" for s in ("captured", "queued"))
    lines = [
        f"spool {status.root}",
        f"  held      {status.held} samples, {_size(status.held_bytes)} ({states})",
    ]
    parts = []
    if budget.max_count is not None:
        parts.append(f"{status.held} of {budget.max_count} samples ({status.held / budget.max_count:.1%})")
    if budget.max_bytes is not None:
        share = status.held_bytes / budget.max_bytes
        parts.append(f"{_size(status.held_bytes)} of {_size(budget.max_bytes)} ({share:.1%})")
    lines.append(f"  budget    {'; '.join(parts) or 'none'} [{budget_from}]")
    lines.append(f"  acked     {status.by_state.get('acked', 0)} (at the hub; rows kept to skip duplicates)")
    if status.oldest is not None and status.newest is not None:
        lines.append(f"  captured  {iso_utc(status.oldest)} .. {iso_utc(status.newest)}")
    if status.by_sampler:
        lines.append("  samplers  " + ", ".join(f"{k} {v}" for k, v in status.by_sampler.items()))
    main = ("offered", "kept", "evicted", "acked", "pruned", "tombstones_pruned")
    lines.append("  counters  " + ", ".join(f"{k} {c.get(k, 0)}" for k in main))
    dropped = status.dropped
    total = sum(dropped.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
    lines.append(f"  dropped   {total}" + (f" ({detail})" if detail else ""))
    repaired = {
        k: v for k, v in c.items() if k in ("temp_files_removed", "orphan_files_removed", "rows_without_file")
    }
    if any(repaired.values()):
        lines.append("  repaired  " + ", ".join(f"{k} {v}" for k, v in repaired.items()))
    return lines


@app.command("status")
@handle_errors
def status(
    spool: Path = SPOOL,
    policy: Path | None = typer.Option(None, "--policy", help="Capture policy, to compare with its budget."),
    json_out: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object."),
) -> None:
    """Samples held and acked, bytes against the budget, and every counter (drops by reason)."""
    from edgeloop.improve.inventory import SpoolView

    budget, budget_from = _budget(policy)
    with SpoolView(spool) as view:
        result = view.status()
    if json_out:
        numbers = result.as_dict()
        numbers["budget"] = {
            "max_count": budget.max_count,
            "max_bytes": budget.max_bytes,
            "from": budget_from,
        }
        stdout_line(json.dumps(numbers))
        return
    for line in render_status(result, budget, budget_from):
        stdout_line(line)


@app.command("ls")
@handle_errors
def ls(
    spool: Path = SPOOL,
    state: str = STATE,
    sampler: str | None = SAMPLER,
    class_name: str | None = CLASS,
    since: str | None = SINCE,
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many (oldest first)."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object per sample (JSONL), with predictions."
    ),
) -> None:
    """List samples, oldest first."""
    from edgeloop.improve.export import provenance
    from edgeloop.improve.inventory import SpoolView, classes_of

    with SpoolView(spool) as view:
        samples = view.samples(_filter(state, sampler, class_name, since, limit))
    for s in samples:
        if json_out:
            row = {**provenance(s), "bytes": s.bytes, "width": s.record.width, "height": s.record.height}
            row["predictions"] = s.record.predictions.get("predictions", [])
            stdout_line(json.dumps(row))
            continue
        info = provenance(s)
        classes = ",".join(sorted(set(classes_of(s)))) or "-"
        stdout_line(
            f"{s.seq:>7} {s.state:<8} {info['captured_at']} {s.record.sampler:<20} {s.record.score:5.2f} "
            f"{len(classes_of(s)):>3} {classes:<20} {s.sha256[:12]} {_size(s.bytes):>8}"
        )
    if not json_out:
        err.print(f"{len(samples)} samples")


def _names(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    path = Path(value)
    if (path / "bundle.json").is_file():
        from edgeloop.bundle import read_manifest

        return tuple(read_manifest(path).names)
    from edgeloop.importer import parse_names

    return tuple(parse_names(value))


@app.command("export")
@handle_errors
def export(
    spool: Path = SPOOL,
    out: Path = typer.Argument(..., help="New folder to write the dataset to."),
    format: str = typer.Option(..., "--format", help="yolo, coco, voc, labelstudio or cvat."),
    state: str = STATE,
    sampler: str | None = SAMPLER,
    class_name: str | None = CLASS,
    since: str | None = SINCE,
    names: str | None = typer.Option(
        None, "--names", help="Class names in order: 'a,b,c', a file (one per line) or a bundle folder."
    ),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help="Leave out predictions below this confidence."
    ),
    image_url: str | None = typer.Option(
        None, "--image-url", help="Label Studio: URL prefix the images/ folder is served under."
    ),
    document_root: Path | None = typer.Option(
        None,
        "--document-root",
        help="Label Studio: LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: OUT's parent folder).",
    ),
) -> None:
    """Write the samples as a dataset to label, with the model's predictions as pre-annotations."""
    from edgeloop.improve.export import ExportOptions, export_spool
    from edgeloop.improve.inventory import SpoolView

    options = ExportOptions(format, _names(names), min_confidence, image_url, document_root)
    with SpoolView(spool) as view:
        samples = view.samples(_filter(state, sampler, class_name, since))
        result = export_spool(view, samples, out, options)
    err.print(
        f"exported {result.images} images, {result.boxes} pre-annotated boxes, classes "
        f"{', '.join(result.names) or '-'} ({result.format})"
    )
    for count, why in (
        (result.missing, "samples left the spool while exporting (evicted or acked)"),
        (result.unknown_boxes, "predictions of classes not in --names left out"),
        (result.low_confidence, "predictions under --min-confidence left out"),
    ):
        if count:
            err.print(f"{count} {why}")
    if format == "labelstudio":
        err.print(
            f"Label Studio: paste {out}/label_config.xml as the labeling interface, "
            f"then import {out}/tasks.json"
        )
    elif format == "cvat":
        err.print(f"CVAT: create a task from {out}/images, then upload {out}/annotations.xml as 'CVAT 1.1'")
    stdout_line(str(out))


@app.command("prune")
@handle_errors
def prune(
    spool: Path = SPOOL,
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Also remove samples captured before this (7d ago, or a date), even ones the hub has not got.",
    ),
    yes: bool = typer.Option(False, "--yes", help="Remove them; without it, only say what would go."),
) -> None:
    """Remove acked samples' rows (and with --older-than, old samples). A dry run unless --yes."""
    from edgeloop.improve.inventory import SampleFilter, SpoolView, parse_time
    from edgeloop.improve.spool import Spool

    before = None if older_than is None else parse_time(older_than)
    with SpoolView(spool) as view:  # the dry run writes nothing and works beside a running capture
        doomed = view.samples(SampleFilter("acked", before=before))
        held = [] if before is None else view.samples(SampleFilter("held", before=before))
    size = sum(s.bytes for s in held)
    what = f"{len(doomed)} acked rows and {len(held)} held samples ({_size(size)}, not yet at the hub)"
    if not yes:
        err.print(f"would remove {what}; run again with --yes to remove them")
        return
    with Spool(spool) as writer:  # takes the lock: refused while a capture runs; listed again under it
        chosen = [s for s in writer.samples("acked") if before is None or s.record.wall_time < before]
        if before is not None:
            chosen += [s for s in writer.samples() if s.record.wall_time < before]
        removed, tombstones, freed = writer.remove([s.sha256 for s in chosen])
    err.print(f"removed {tombstones} acked rows and {removed} held samples ({_size(freed)} freed)")
