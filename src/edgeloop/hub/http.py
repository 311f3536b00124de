"""Request plumbing of the hub's routes: capped bodies, multipart parts, JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgeloop.errors import PayloadTooLarge, RequestError, UnsupportedMediaType
from edgeloop.serve.http import parse_json, read_body

__all__ = ["Part", "read_form", "read_json"]

Part = tuple[str, bytes]
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the payload


async def read_form(request: Request, limit: int, max_parts: int) -> list[Part]:
    """The parts of a multipart/form-data body of at most ``limit`` bytes, in order, as bytes.

    Raises:
        UnsupportedMediaType: not multipart/form-data.
        PayloadTooLarge: the body is above ``limit`` (checked while reading, never buffered past it).
        PayloadTooLarge: more than ``max_parts`` parts.
        RequestError: a malformed body.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            f"expected multipart/form-data with parts 'meta' and 'image', got {content_type[:80]!r}"
        )
    await read_body(request, limit)
    try:
        form = await request.form(max_files=max_parts, max_fields=max_parts, max_part_size=limit)
    except StarletteHTTPException as exc:
        if "too many" in str(exc.detail).lower():
            raise PayloadTooLarge(f"too many parts: at most {max_parts}") from None
        raise RequestError(f"malformed multipart body: {exc.detail}") from None
    parts: list[Part] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                parts.append((name, await value.read()))
            else:
                parts.append((name, value.encode()))
    finally:
        await form.close()
    if len(parts) > max_parts:
        raise PayloadTooLarge(f"too many parts: at most {max_parts}")
    return parts


async def read_json(request: Request, limit: int = 256 * 1024) -> Any:
    """A JSON body of at most ``limit`` bytes."""
    return parse_json(await read_body(request, limit))
