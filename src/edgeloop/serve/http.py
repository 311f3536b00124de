"""Request plumbing shared by the routes: errors, body limits, auth, image inputs."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from edgeloop.errors import EdgeloopError


class HTTPError(EdgeloopError):
    """An error with the HTTP status it maps to."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape every route returns: {"error": "..."}."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading it all.

    The bytes are cached on the request so form parsing can reuse them.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPError(400, "invalid Content-Length header") from None
        if size > limit:
            raise HTTPError(413, f"request body of {size} bytes is above the {limit} byte limit")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPError(413, f"request body is above the {limit} byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette reads a cached body for form() / json()
    return body


def parse_json(body: bytes) -> Any:
    """Parse a JSON body or say where it is broken."""
    if not body:
        raise HTTPError(400, "empty body: expected JSON")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPError(400, f"invalid JSON: {exc}") from None


def decode_base64(value: Any, field: str = "image") -> bytes:
    """Decode a base64 string (plain or data: URL) or say which field is wrong."""
    if not isinstance(value, str) or not value:
        raise HTTPError(400, f"'{field}' must be a non-empty base64 string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPError(400, f"'{field}' is not valid base64") from None


def check_token(request: Request, token: str | None, api_key: str | None = None) -> None:
    """Require ``Authorization: Bearer <token>`` (or a matching Roboflow api_key) when a token is set."""
    if not token:
        return
    header = request.headers.get("authorization", "")
    supplied = (
        header[7:]
        if header.lower().startswith("bearer ")
        else (api_key or request.query_params.get("api_key") or "")
    )
    if not hmac.compare_digest(supplied.encode(), token.encode()):
        raise HTTPError(
            401,
            "missing or wrong token: send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )


def float_param(value: Any, name: str, low: float = 0.0, high: float = 1.0) -> float | None:
    """An optional number in [low, high] from a query or body field."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float
        raise HTTPError(400, f"'{name}' must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise HTTPError(400, f"'{name}' must be between {low:g} and {high:g}, got {number:g}")
    return number


def int_param(value: Any, name: str, low: int = 1, high: int = 100_000) -> int | None:
    """An optional integer in [low, high]."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise HTTPError(400, f"'{name}' must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise HTTPError(400, f"'{name}' must be between {low} and {high}, got {number}")
    return number


def classes_param(value: Any, high: int = 100_000) -> list[int] | None:
    """Class ids as "0,2", [0, 2] or None; each in [0, high)."""
    if value is None or value == "" or value == []:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise HTTPError(400, f"'classes' must be a list of class ids, got {value!r}")
    try:
        ids = [int(v) for v in items]
    except (TypeError, ValueError, OverflowError):
        raise HTTPError(400, f"'classes' must be class ids (integers), got {value!r}") from None
    if not all(0 <= i < high for i in ids):
        raise HTTPError(400, f"'classes' must be class ids from 0 to {high - 1}, got {value!r}")
    return ids
