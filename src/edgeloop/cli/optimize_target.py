"""``edgeloop optimize --target myriad|rvc4``: a device's NN Archive in a new bundle, or the
container recipe that compiles one elsewhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeloop.cli.common import err, stdout_line
from edgeloop.errors import ConfigError

TARGETS = ("myriad", "rvc4")


@dataclass(frozen=True)
class TargetFlags:
    """The ``--target`` flags: Myriad X SHAVEs, write the recipe only, take a recipe's results,
    the user's RVC4 model."""

    shaves: int = 6
    print_recipe: bool = False
    from_recipe: Path | None = None
    dlc: Path | None = None


def refuse_variant_flags(target: str | None, given: list[str]) -> None:
    """Refuse the flags of the measured variants (``--int8``, ``--calib``, ``--eval``, ...) with
    ``--target``, which makes the device's own model and measures nothing.

    Raises:
        ConfigError: any of them given.
    """
    if given:
        raise ConfigError(
            f"--target {target or '...'} makes the device's own model and measures nothing here: "
            f"leave out {', '.join(given)} (run them in a separate `edgeloop optimize` without --target)"
        )


def optimize_target(bundle: Path, out: Path, target: str | None, flags: TargetFlags, as_json: bool) -> None:
    """Add ``target``'s NN Archive to a new bundle ``out`` or (``--print-recipe``) write the
    container recipe for the Myriad X into ``out``, to run on a machine with Docker."""
    if target not in TARGETS:
        what = f"unknown --target {target!r}" if target else "these flags need --target"
        raise ConfigError(f"{what}; choose one of {', '.join(TARGETS)}")
    if target != "myriad" and (flags.print_recipe or flags.from_recipe is not None):
        raise ConfigError("--print-recipe and --from-recipe go with --target myriad")
    if flags.print_recipe:
        _print_recipe(bundle, out, flags.shaves, as_json)
        return
    from edgeloop.optimize import OptimizeOptions, optimize

    options = OptimizeOptions(target=target, shaves=flags.shaves, from_recipe=flags.from_recipe)
    report = optimize(bundle, out, options.model_copy(update={"dlc": flags.dlc}))
    if as_json:
        stdout_line(json.dumps({"out": str(report.out), "variants": [v.file for v in report.variants]}))
    for variant in report.variants:
        err.print(f"{variant.file:<28} {variant.precision:<6} {variant.backend}", highlight=False)
    for warning in report.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}", markup=True, highlight=False)
    err.print(f"bundle written to {report.out}; default variant: {report.default_variant}", highlight=False)


def _print_recipe(bundle: Path, out: Path, shaves: int, as_json: bool) -> None:
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
