"""Request plumbing shared by the routes: errors and their status codes, body limits, auth, inputs."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from edgeloop.classes import parse_classes
from edgeloop.errors import (
    BackendError,
    ConfigError,
    Conflict,
    EdgeloopError,
    FeatureUnavailable,
    Forbidden,
    ImageTooLarge,
    InferenceTimeout,
    LimitReached,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RequestError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

# The one place an error becomes a status code: the first class of the error's MRO found here
# decides, so the message can never change the status. EdgeloopError itself (bad input of any
# other kind: an image, a bundle, a setting) is the client's to fix.
STATUS: dict[type[EdgeloopError], int] = {
    EdgeloopError: 400,
    RequestError: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    UnsupportedMediaType: 415,
    PayloadTooLarge: 413,
    ImageTooLarge: 413,
    LimitReached: 429,
    BackendError: 500,
    FeatureUnavailable: 501,
    Overloaded: 503,
    Unavailable: 503,
    InferenceTimeout: 504,
}
HEADERS: dict[type[EdgeloopError], dict[str, str]] = {
    Unauthorized: {"WWW-Authenticate": "Bearer"},
    Overloaded: {"Retry-After": "1"},
    Unavailable: {"Retry-After": "1"},
}


def _nearest(table: dict[type[EdgeloopError], Any], exc: EdgeloopError, default: Any) -> Any:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return default


def status_of(exc: EdgeloopError) -> tuple[int, dict[str, str]]:
    """The HTTP status and extra headers for ``exc``, from its class alone."""
    return _nearest(STATUS, exc, 400), dict(_nearest(HEADERS, exc, {}))


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
            raise RequestError("invalid Content-Length header") from None
        if size > limit:
            raise PayloadTooLarge(f"request body of {size} bytes is above the {limit} byte limit")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request body is above the {limit} byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette reads a cached body for form() / json()
    return body


def parse_json(body: bytes) -> Any:
    """Parse a JSON body or say where it is broken."""
    if not body:
        raise RequestError("empty body: expected JSON")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"invalid JSON: {exc}") from None


def decode_base64(value: Any, field: str = "image") -> bytes:
    """Decode a base64 string (plain or data: URL) or say which field is wrong."""
    if not isinstance(value, str) or not value:
        raise RequestError(f"'{field}' must be a non-empty base64 string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"'{field}' is not valid base64") from None


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
        raise Unauthorized("missing or wrong token: send 'Authorization: Bearer <token>'")


def float_param(value: Any, name: str, low: float = 0.0, high: float = 1.0) -> float | None:
    """An optional number in [low, high] from a query or body field."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float
        raise RequestError(f"'{name}' must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise RequestError(f"'{name}' must be between {low:g} and {high:g}, got {number:g}")
    return number


def int_param(value: Any, name: str, low: int = 1, high: int = 100_000) -> int | None:
    """An optional integer in [low, high]."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise RequestError(f"'{name}' must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise RequestError(f"'{name}' must be between {low} and {high}, got {number}")
    return number


def classes_param(value: Any, names: Sequence[str]) -> list[int] | None:
    """Class filter as "person,2", ["person", 2] or None: names and ids, checked against ``names``."""
    if value is None or value == "" or value == []:
        return None
    if not isinstance(value, (str, list)) or not all(isinstance(v, (str, int)) for v in value):
        raise RequestError(f"'classes' must be class names or ids, e.g. \"person,2\", got {value!r}")
    tokens = value if isinstance(value, str) else [str(v) for v in value]
    try:
        return list(parse_classes(tokens, names, flag="'classes'"))
    except ConfigError as exc:
        raise RequestError(str(exc)) from None
