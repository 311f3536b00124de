"""The real `edgeloop keys` and `edgeloop bundle sign|verify` commands, end to end.

Each command is a fresh process (about a second to start), so one walk through
the whole story; the cases behind each refusal are tested on the API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.signing.conftest import Signed


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stderr


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_generate_sign_verify_rotate_revoke_and_ship_as_tar(signed: Signed, tmp_path: Path) -> None:
    (signed.root / "bundle.sig").unlink()
    bundle = str(signed.root)
    keys, ring = str(tmp_path / "KEYS"), str(tmp_path / "KEYS" / "keyring.json")

    first = run_cli("keys", "generate", "--dir", keys, "--note", "build server")
    assert "generated active key" in _ok(first) and f"devices pin {ring}" in first.stderr
    first_id = first.stdout.strip()
    _refused(run_cli("bundle", "verify", bundle, "--keys", ring), "not signed", "edgeloop bundle sign")

    assert f"with key {first_id}, counter 1" in _ok(run_cli("bundle", "sign", bundle, "--keys", keys))
    verified = run_cli("bundle", "verify", bundle, "--keys", ring, "--min-counter", "1")
    assert f"counter 1, signed by {first_id}" in _ok(verified)
    _refused(
        run_cli("bundle", "verify", bundle, "--keys", ring, "--min-counter", "2"),
        "release counter 1 is older than 2",
        "re-sign the old bundle with a new counter",
    )

    second = run_cli("keys", "rotate", "--dir", keys)
    assert "previous key is retired" in _ok(second)
    second_id = second.stdout.strip()
    revoked = run_cli("keys", "revoke", first_id[:8], "--reason", "laptop lost", "--dir", keys)
    assert revoked.stdout.strip() == first_id and "revoked key" in _ok(revoked)
    _refused(run_cli("bundle", "verify", bundle, "--keys", ring), "revoked", "laptop lost", "re-sign")

    resigned = run_cli("bundle", "sign", bundle, "--keys", keys, "--counter", "7")
    assert f"with key {second_id}, counter 7" in _ok(resigned)
    archive = str(tmp_path / "model.tar")
    _ok(run_cli("bundle", "pack", bundle, archive))
    shipped = run_cli("bundle", "verify", archive, "--keys", ring, "--min-counter", "7")
    assert f"counter 7, signed by {second_id}" in _ok(shipped)

    listing = run_cli("keys", "ls", "--dir", keys)
    assert "last release counter: 7" in _ok(listing)
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["KEY_ID", "STATUS", "CREATED", "DETAIL"]
    assert rows[1].split()[:2] == [first_id, "revoked"] and "laptop lost" in rows[1]
    assert rows[2].split()[:2] == [second_id, "active"]
