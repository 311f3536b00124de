"""``edgeloop keys``: the Ed25519 keys that sign bundles (generate, rotate, revoke, ls)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

app = typer.Typer(
    help="Ed25519 keys that sign bundles: generate, rotate, revoke, ls. Devices pin KEYS/keyring.json.",
    no_args_is_help=True,
)

KEYS_DIR = typer.Option(
    ..., "--dir", help="Key folder: keyring.json (public, for devices), private/ (secret), counter."
)
NOTE = typer.Option("", "--note", help="A note stored with the key (who holds it, where).")


def _next_steps(keys_dir: Path) -> str:
    return (
        f"sign with `edgeloop bundle sign BUNDLE --keys {keys_dir}`; devices pin {keys_dir / 'keyring.json'} "
        f"(keep {keys_dir / 'private'} secret)"
    )


@app.command("generate")
@handle_errors
def generate(keys_dir: Path = KEYS_DIR, note: str = NOTE) -> None:
    """Create the signing key of a new key folder (or a new one after the active key was revoked)."""
    from edgeloop.signing import generate_key

    info = generate_key(keys_dir, note)
    stdout_line(info.key_id)
    err.print(f"generated active key {info.key_id} in {keys_dir}; {_next_steps(keys_dir)}")


@app.command("rotate")
@handle_errors
def rotate(keys_dir: Path = KEYS_DIR, note: str = NOTE) -> None:
    """Make a new active key; the old one is retired (what it signed still verifies until revoked)."""
    from edgeloop.signing import rotate_key

    info = rotate_key(keys_dir, note)
    stdout_line(info.key_id)
    err.print(
        f"new active key {info.key_id}; the previous key is retired. Copy {keys_dir / 'keyring.json'} "
        "to devices, re-sign what they run, then revoke the old key"
    )


@app.command("revoke")
@handle_errors
def revoke(
    key_id: str = typer.Argument(..., help="Key id (or a unique prefix of 4+ digits), from `keys ls`."),
    reason: str = typer.Option(..., "--reason", help="Why, e.g. 'laptop lost'; stored in the key ring."),
    keys_dir: Path = KEYS_DIR,
) -> None:
    """Revoke a key: nothing it signed verifies again on devices that get the new key ring."""
    from edgeloop.signing import revoke_key

    info = revoke_key(keys_dir, key_id, reason)
    stdout_line(info.key_id)
    err.print(
        f"revoked key {info.key_id} ({reason}); copy {keys_dir / 'keyring.json'} to devices "
        "so they refuse bundles it signed"
    )


@app.command("ls")
@handle_errors
def ls(
    keys_dir: Path = KEYS_DIR,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per key instead of a table."),
) -> None:
    """List the keys of a key folder (or a key ring file) with their status."""
    from edgeloop.signing import Keyring, current_counter

    ring = Keyring.load(keys_dir)
    if as_json:
        for info in ring.keys:
            stdout_line(json.dumps(info.model_dump(mode="json"), ensure_ascii=False))
        return
    stdout_line(f"{'KEY_ID':<17} {'STATUS':<8} {'CREATED':<26} DETAIL")
    for info in ring.keys:
        detail = f"revoked {info.revoked_at}: {info.reason}" if info.status == "revoked" else info.note
        stdout_line(f"{info.key_id:<17} {info.status:<8} {info.created:<26} {detail}".rstrip())
    if keys_dir.is_dir():
        err.print(f"last release counter: {current_counter(keys_dir)}")
