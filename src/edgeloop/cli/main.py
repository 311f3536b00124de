"""The ``edgeloop`` command."""

from __future__ import annotations

import typer

from edgeloop.cli import (
    advise,
    agent,
    bench,
    bundle,
    capture,
    dataset,
    demo,
    deploy,
    export,
    gate,
    hub,
    import_,
    keys,
    optimize,
    predict,
    profile,
    run,
    serve,
    spool,
    sync,
    train,
)
from edgeloop.cli import eval as eval_
from edgeloop.cli.flags import FlagsGroup

app = typer.Typer(
    cls=FlagsGroup,  # flags show no `<bool>` placeholder in --help
    name="edgeloop",
    help="Computer vision from dataset to edge devices, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("import")(import_.import_model)
app.command("predict")(predict.predict)
app.command("run")(run.run)
app.command("capture")(capture.capture)
app.command("sync")(sync.sync)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("profile")(profile.profile)
app.command("bench")(bench.bench)
app.command("advise")(advise.advise)
app.command("train")(train.train)
app.command("export")(export.export)
app.command("eval")(eval_.evaluate)
app.command("optimize")(optimize.optimize)
app.command("gate")(gate.gate)
app.add_typer(bundle.app, name="bundle")
app.add_typer(dataset.app, name="dataset")
app.add_typer(deploy.app, name="deploy")
app.add_typer(spool.app, name="spool")
app.add_typer(hub.app, name="hub")
app.add_typer(keys.app, name="keys")
app.add_typer(agent.app, name="agent")


def _version(value: bool) -> None:
    if value:
        from edgeloop import __version__

        typer.echo(f"edgeloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Computer vision from dataset to edge devices, offline."""


def main() -> None:
    """Console-script entry point."""
    app()
