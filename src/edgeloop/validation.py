"""Pydantic validation errors as one line a user can act on.

Every boundary that validates user input with a pydantic model (command-line
flags, YAML and JSON files) turns the :class:`pydantic.ValidationError` into an
:class:`~edgeloop.errors.EdgeloopError` whose text comes from
:func:`format_validation_error`: which flag or key is wrong, what was given, and
what is allowed (the choices of a ``Literal`` or enum, the bounds of a number,
the keys a section takes), never pydantic's multi-line dump with its
documentation links. HTTP bodies keep FastAPI's 422 responses.

For example ``--device: 'gpu' is not one of cpu, cuda, tensorrt, openvino,
coreml, auto`` or ``zones.yaml: key 'zones[0].polygon': needs at least 3 items
(got 2)``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

Where = Literal["flag", "key", "setting"]
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_PARSING = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def format_validation_error(
    exc: ValidationError,
    where: Where,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    flags: Mapping[str, str] | None = None,
) -> str:
    """One line naming each wrong flag or key, what was given and what is allowed.

    Args:
        exc: the error pydantic raised.
        where: ``"flag"`` names fields as command-line flags (``threads`` -> ``--threads``);
            ``"key"`` as dotted keys of a file (``key 'zones[0].polygon'``); ``"setting"`` the
            same as settings of an object built in code or from any source (``setting 'device'``).
        prefix: put in front of the line, e.g. the file's path.
        model: the model validated, to list the keys a section takes when an unknown one is given.
        flags: field name -> flag, where a flag is not ``--`` plus the field name with dashes.
    """
    return format_errors(exc.errors(), where, prefix, model, flags)


def format_errors(
    errors: Sequence[Any],
    where: Where,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    flags: Mapping[str, str] | None = None,
) -> str:
    """``format_validation_error`` for pydantic's error dicts (``exc.errors()``), e.g. after
    a caller removed a location part of its own (a union's branch tag)."""
    parts = [_one(error, where, model, flags or {}) for error in errors]
    text = "; ".join(dict.fromkeys(parts))
    return f"{prefix}: {text}" if prefix else text


def _name(loc: tuple[int | str, ...], where: Where, flags: Mapping[str, str]) -> str:
    if not loc:
        return "the options" if where == "flag" else "the top level"
    if where == "flag":
        field = str(loc[-1])
        return flags.get(field, "--" + field.replace("_", "-"))
    dotted = ""
    for part in loc:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    return f"{where} '{dotted}'"


def _choices(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as "a, b, c"."""
    return expected.replace(" or ", ", ").replace("'", "")


def _given(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one(error: Any, where: Where, model: type[BaseModel] | None, flags: Mapping[str, str]) -> str:
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    name, given = _name(loc, where, flags), _given(error.get("input"))
    if kind in ("literal_error", "enum"):
        return f"{name}: {given} is not one of {_choices(str(ctx.get('expected', '')))}"
    if kind == "union_tag_invalid":
        return f"{name}: {given} is not one of {_choices(str(ctx.get('expected_tags', '')))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(key for key in _BOUNDS if key in ctx)
        limit = ctx[bound]
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"{name}: must be {_BOUNDS[bound]} {limit} (got {given})"
    if kind in _PARSING:
        return f"{name}: expects {_PARSING[kind]} (got {given})"
    if kind == "missing":
        return f"{name}: is required"
    if kind == "extra_forbidden":
        allowed = _allowed(model, loc[:-1])
        known = f"; {where}s here: {', '.join(allowed)}" if allowed else ""
        return f"{name}: unknown {where}{known}"
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"{name}: needs {word} {size} items (got {ctx.get('actual_length', '?')})"
    if kind == "string_pattern_mismatch":
        return f"{name}: {given} does not match the pattern {ctx.get('pattern')}"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{name}: {message}"


def _allowed(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the (sub)model at ``loc`` inside ``model``, if it can be followed."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(current, type) and issubclass(current, BaseModel))
            or part not in current.model_fields
        ):
            return []
        current = _model_in(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The model class inside ``Model``, ``list[Model]``, ``Model | None`` and the like, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


__all__ = ["Where", "format_validation_error"]
