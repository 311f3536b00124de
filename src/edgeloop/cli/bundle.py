"""``edgeloop bundle``: inspect, verify, sign, pack and unpack bundles."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.backend_options import backend_option, backend_settings, device_option, threads_option
from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.bundle import Manifest

app = typer.Typer(help="Inspect, verify, sign, pack and unpack bundles.", no_args_is_help=True)


@app.command("info")
@handle_errors
def info(bundle: Path = typer.Argument(..., help="Bundle folder or .tar.")) -> None:
    """Print a bundle's manifest (after verifying it) as JSON."""
    from edgeloop.bundle import load_bundle

    stdout_line(load_bundle(bundle).manifest.model_dump_json(indent=2, exclude_none=True))


@app.command("verify")
@handle_errors
def verify(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar."),
    keys: Path | None = typer.Option(
        None, "--keys", help="Key ring (KEYS/keyring.json) to check the signature against."
    ),
    min_counter: int | None = typer.Option(
        None, "--min-counter", min=0, help="Refuse a release counter below this (the one the device runs)."
    ),
) -> None:
    """Check the manifest and every file's sha256; with --keys also the signature, key and counter."""
    if keys is None:
        if min_counter is not None:
            from edgeloop.errors import ConfigError

            raise ConfigError("--min-counter checks a signed bundle: pass --keys KEYRING.json too")
        from edgeloop.bundle import load_bundle

        m = load_bundle(bundle).manifest
        err.print(f"ok: bundle '{m.name}' v{m.version}, {_contents(m)}")
        return
    from edgeloop.signing import Keyring, read_signature, verify_bundle

    ring = Keyring.load(keys)
    with _folder(bundle) as root:
        m = verify_bundle(root, ring, min_counter)
        key_id = read_signature(root).key_id
    err.print(f"ok: bundle '{m.name}' v{m.version}, counter {m.counter}, signed by {key_id}, {_contents(m)}")


def _contents(m: Manifest) -> str:
    return f"{len(m.variants)} variant(s), {len(m.samples)} sample(s)"


@contextmanager
def _folder(bundle: Path) -> Iterator[Path]:
    """The bundle folder, or a .tar unpacked into a temporary folder for the length of the block."""
    from edgeloop.bundle import tarfile_like

    if not (bundle.is_file() and tarfile_like(bundle)):
        yield bundle
        return
    from edgeloop.archive import extract_tar

    with tempfile.TemporaryDirectory(prefix="edgeloop-verify-") as tmp:
        extract_tar(bundle, Path(tmp))
        yield Path(tmp)


@app.command("sign")
@handle_errors
def sign(
    bundle: Path = typer.Argument(..., help="Bundle folder."),
    keys: Path = typer.Option(..., "--keys", help="Key folder (from `edgeloop keys generate --dir KEYS`)."),
    counter: int | None = typer.Option(
        None,
        "--counter",
        min=0,
        help="Release counter to sign with; default: the next one from KEYS/counter.",
    ),
) -> None:
    """Sign a bundle folder with the active key: sets its release counter, writes bundle.sig."""
    from edgeloop.signing import (
        advance_counter,
        check_signable,
        current_counter,
        load_signer,
        next_counter,
        sign_bundle,
    )

    signer = load_signer(keys)
    check_signable(bundle)  # before a counter is issued, so a refused bundle uses none
    if counter is None:
        counter = next_counter(keys)
    else:
        last = current_counter(keys)
        if counter < last:
            err.print(
                f"warning: counter {counter} is below the last one issued ({last}): "
                f"devices that installed counter {last} refuse this bundle"
            )
        elif counter == last:
            err.print(f"warning: counter {counter} was issued before: two releases now share it")
        advance_counter(keys, counter)
    sign_bundle(bundle, signer, counter)
    err.print(f"signed {bundle} with key {signer.key_id}, counter {counter}")


@app.command("pack")
@handle_errors
def pack(
    bundle: Path = typer.Argument(..., help="Bundle folder."),
    out: Path = typer.Argument(..., help="Archive to write, e.g. model.tar."),
) -> None:
    """Verify a bundle folder and write it as one .tar."""
    from edgeloop.bundle import pack as pack_bundle

    path = pack_bundle(bundle, out)
    err.print(f"packed {bundle} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command("unpack")
@handle_errors
def unpack(
    archive: Path = typer.Argument(..., help="Bundle .tar."),
    out: Path = typer.Argument(..., help="Empty or new folder to extract into."),
) -> None:
    """Safely extract a bundle .tar (no links, no paths outside OUT) and verify it."""
    from edgeloop.bundle import unpack as unpack_bundle

    m = unpack_bundle(archive, out).manifest
    err.print(f"unpacked bundle '{m.name}' into {out}")


@app.command("check")
@handle_errors
def check(
    bundle: Path = typer.Argument(..., help="Bundle folder or .tar."),
    backend: str = backend_option(),
    device: str | None = device_option(),
    threads: int = threads_option(),
) -> None:
    """Run the bundle's golden samples and compare with the expected results."""
    from edgeloop.errors import EdgeloopError
    from edgeloop.predictor import Predictor
    from edgeloop.samples import check_samples

    config = backend_settings(backend, device, threads)
    with Predictor(bundle, config) as predictor:
        checks = check_samples(predictor)
    if not checks:
        err.print("no golden samples in this bundle: add some with `edgeloop bundle add-sample`")
        return
    for c in checks:
        err.print(f"{'ok  ' if c.ok else 'FAIL'} {c.file}: {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise EdgeloopError(f"{len(failed)} of {len(checks)} golden samples differ")


@app.command("add-sample")
@handle_errors
def add_sample(
    bundle: Path = typer.Argument(..., help="Bundle folder."),
    images: list[Path] = typer.Argument(..., help="Images to store with their current results."),
) -> None:
    """Store images in the bundle as golden samples, with what the model finds in them now."""
    from edgeloop.bundle import load_bundle
    from edgeloop.predictor import Predictor
    from edgeloop.samples import add_samples

    loaded = load_bundle(bundle)
    with Predictor(loaded) as predictor:
        updated = add_samples(loaded, images, predictor)
    err.print(f"bundle '{updated.manifest.name}' now has {len(updated.manifest.samples)} golden sample(s)")
