"""Tokens: random secrets stored as sha256 only; admin and device roles.

Only hashes are compared and stored, so a token value never reaches a log, a row or an error.
The admin token lives outside the database (a 0600 file or an environment variable), so every
hub process of a fleet reads the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from edgeloop.errors import ConfigError, Unauthorized
from edgeloop.hub import schema
from edgeloop.hub.config import ADMIN_TOKEN_ENV, HubConfig

ADMIN_FILE = "admin.token"
UNAUTHORIZED = "missing, unknown or revoked token: send 'Authorization: Bearer <token>'"


@dataclass(frozen=True)
class Principal:
    """Who a request is: an admin, or a device (with its name and group)."""

    role: str  # "admin" | "device"
    device: str | None = None
    group: str | None = None


def generate_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The sha256 hex that stands for ``token`` everywhere it is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AdminToken:
    """The admin token's hash and where it came from (a path or the variable's name, never the value)."""

    sha256: str
    source: str
    created: bool = False


def _write_secret(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def _read_secret(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the admin token file {path}: {exc.strerror or exc}") from None
    if len(token) < 16:
        raise ConfigError(f"the admin token in {path} is shorter than 16 characters; put a longer one there")
    return token


def admin_token_explicit(config: HubConfig) -> bool:
    """Whether an admin token is configured by the operator (file or environment), not auto-created."""
    return config.admin_token_file is not None or bool(os.environ.get(ADMIN_TOKEN_ENV))


def load_admin_token(config: HubConfig, create: bool = True) -> AdminToken:
    """The admin token from --admin-token-file, else $EDGELOOP_HUB_ADMIN_TOKEN, else DATA/admin.token.

    With ``create``, a missing DATA/admin.token is created (mode 0600) with a new token.

    Raises:
        ConfigError: unreadable or too short, or missing and not to be created.
    """
    if config.admin_token_file is not None:
        return AdminToken(hash_token(_read_secret(config.admin_token_file)), str(config.admin_token_file))
    env = os.environ.get(ADMIN_TOKEN_ENV)
    if env:
        if len(env.strip()) < 16:
            raise ConfigError(f"${ADMIN_TOKEN_ENV} is shorter than 16 characters; set a longer token")
        return AdminToken(hash_token(env.strip()), f"${ADMIN_TOKEN_ENV}")
    path = config.data_dir / ADMIN_FILE
    if path.exists():
        return AdminToken(hash_token(_read_secret(path)), str(path))
    if not create:
        raise ConfigError(f"no admin token yet: run `edgeloop hub token admin --data {config.data_dir}`")
    _write_secret(path, generate_token())
    return AdminToken(hash_token(_read_secret(path)), str(path), created=True)


def rotate_admin_token(data_dir: Path) -> Path:
    """Write a new admin token to DATA/admin.token (0600); running hubs pick it up at restart."""
    path = data_dir / ADMIN_FILE
    _write_secret(path, generate_token())
    return path


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if header and header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return None


def authenticate(conn: sa.Connection, admin_sha256: str, token: str | None) -> Principal:
    """The principal ``token`` stands for.

    Raises:
        Unauthorized: no token, an unknown one, or a revoked token or device.
    """
    if not token:
        raise Unauthorized(UNAUTHORIZED)
    digest = hash_token(token)
    if hmac.compare_digest(digest, admin_sha256):
        return Principal("admin")
    t, d = schema.tokens, schema.devices
    row = conn.execute(
        sa.select(t.c.role, t.c.device, d.c.group)
        .select_from(t.outerjoin(d, t.c.device == d.c.name))
        .where(t.c.token_sha256 == digest, t.c.revoked_at.is_(None), d.c.revoked_at.is_(None))
    ).first()
    if row is None:
        raise Unauthorized(UNAUTHORIZED)
    return Principal(row.role, row.device, row.group)


def add_token(conn: sa.Connection, role: str, device: str | None, label: str = "") -> str:
    """Create a token for ``role`` (and ``device``); the value is returned once and stored hashed."""
    token = generate_token()
    conn.execute(
        sa.insert(schema.tokens).values(
            token_sha256=hash_token(token), role=role, device=device, label=label, created_at=time.time()
        )
    )
    return token
