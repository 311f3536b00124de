"""``edgeloop profile``: what a model costs to run, before choosing hardware."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.hardware.profile import ModelProfile


def model_file(source: Path, precision: str | None) -> Path:
    """The ONNX file of a bundle (its default or ``precision`` variant), or ``source`` if it is a file."""
    if source.is_file() and source.suffix.lower() == ".onnx":
        return source
    from edgeloop.bundle import load_bundle

    return load_bundle(source).model_path(precision)


def load_profile(
    source: Path, precision: str | None, imgsz: int | None, dynamic_imgsz: int | None = None
) -> ModelProfile:
    """Profile a bundle's model (or an ONNX file); a bundle's input size fills in dynamic dims.

    ``dynamic_imgsz``: the size for a dynamic input when neither ``imgsz`` nor a bundle gives one.
    """
    from edgeloop.hardware.profile import profile_onnx

    if imgsz is None and not (source.is_file() and source.suffix.lower() == ".onnx"):
        from edgeloop.bundle import load_bundle

        height, width = load_bundle(source).manifest.input.size_hw
        imgsz = height if height == width else None
    return profile_onnx(model_file(source, precision), imgsz, dynamic_imgsz)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@handle_errors
def profile(
    source: Path = typer.Argument(..., help="Bundle folder or .tar, or an .onnx file."),
    precision: str | None = typer.Option(None, help="Bundle variant to profile (default: the bundle's)."),
    imgsz: int | None = typer.Option(
        None, min=32, help="Profile at this square input size (dynamic models)."
    ),
    layers: int = typer.Option(10, min=0, help="Show the N layers with the most MACs."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole profile as JSON on stdout."),
) -> None:
    """Parameters, FLOPs/MACs, memory and operator support of a model."""
    from rich.console import Console
    from rich.table import Table

    p = load_profile(source, precision, imgsz)
    warning = p.shape_warning()
    if warning:
        err.print(f"warning: {warning}")
    if as_json:
        stdout_line(p.model_dump_json())
        return
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=160)
    out.print(f"model        {p.model}  input {p.input_shape}")
    out.print(f"parameters   {p.params / 1e6:.3f} M  (weights {_mb(p.weight_bytes)})")
    out.print(
        f"compute      {p.gflops:.3f} GFLOPs = {p.macs / 1e9:.3f} GMACs "
        f"(+ {p.other_ops / 1e9:.3f} G other ops)"
    )
    out.print(f"activations  peak {_mb(p.peak_activation_bytes)}")
    if layers:
        table = Table(title=f"top {layers} layers by MACs", title_justify="left")
        for col in ("layer", "op", "output", "GMACs", "share", "params"):
            table.add_column(col, justify="right" if col in ("GMACs", "share", "params") else "left")
        for layer in sorted(p.layers, key=lambda x: -x.macs)[:layers]:
            share = f"{100 * layer.macs / p.macs:.1f}%" if p.macs else "-"
            table.add_row(
                layer.name,
                layer.op,
                str(layer.output_shape),
                f"{layer.macs / 1e9:.4f}",
                share,
                str(layer.params),
            )
        out.print(table)
    from edgeloop.hardware.ops import SUPPORTED

    ops = Table(title="operators (x = not in the compiler's published support list)", title_justify="left")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    runtimes = list(SUPPORTED)  # the others (onnxruntime, openvino, tensorrt, ...) publish no restriction
    for rt in runtimes:
        ops.add_column(rt, justify="center")
    for count in p.operators:
        ops.add_row(count.op, str(count.count), *("ok" if count.supported[rt] else "x" for rt in runtimes))
    out.print(ops)
    flagged = p.unsupported()
    for rt, names in flagged.items():
        err.print(f"{rt}: check {', '.join(names)} (see edgeloop.hardware.ops.SOURCES)")
