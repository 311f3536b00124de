"""``edgeloop optimize --target myriad``: compile for a device in a container, or write its recipe."""

from __future__ import annotations

import json
from pathlib import Path

from edgeloop.cli.common import err, stdout_line
from edgeloop.errors import ConfigError

TARGETS = ("myriad",)


def optimize_target(
    bundle: Path,
    out: Path,
    target: str | None,
    shaves: int,
    print_recipe: bool,
    from_recipe: Path | None,
    as_json: bool,
) -> None:
    """Compile ``bundle`` for ``target`` into the new bundle ``out``, or (``print_recipe``) write
    the container recipe that does it into ``out``, to run on a machine with Docker."""
    if target not in TARGETS:
        what = f"unknown --target {target!r}" if target else "--print-recipe and --from-recipe need --target"
        raise ConfigError(f"{what}; choose one of {', '.join(TARGETS)}")
    if print_recipe:
        from edgeloop.bundle import load_bundle
        from edgeloop.export.myriad import write_recipe

        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{out} already exists and is not empty: choose a new --out folder")
        write_recipe(load_bundle(bundle), out, shaves)
        if as_json:
            stdout_line(json.dumps({"recipe": str(out)}))
        err.print(
            f"recipe written to {out}: run sh {out / 'run.sh'} on a machine with Docker; "
            "it writes model.blob (Myriad X) and ir/model.xml (FP16 IR) there",
            highlight=False,
        )
        return
    from edgeloop.optimize import OptimizeOptions, optimize

    report = optimize(bundle, out, OptimizeOptions(target="myriad", shaves=shaves, from_recipe=from_recipe))
    if as_json:
        stdout_line(json.dumps({"out": str(report.out), "variants": [v.file for v in report.variants]}))
    for variant in report.variants:
        err.print(f"{variant.file:<28} {variant.precision:<6} {variant.backend}", highlight=False)
    for warning in report.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}", markup=True, highlight=False)
    err.print(f"bundle written to {report.out}; default variant: {report.default_variant}", highlight=False)
