"""A parser for the protocol-buffer text format that ``.prototxt`` files are written in.

It knows no schema: a message is an ordered list of (name, value) fields, where a value
is a nested ``Message``, a string, a number or an enum name. Nesting depth, file size
and field counts are bounded so a crafted file cannot exhaust memory or the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_DEPTH = 32
MAX_FIELDS = 200_000  # a ResNet-152 deploy.prototxt has about 10 000

Scalar = str | float | int | bool

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)[fF]?(?![\w.]))
    |(?P<ident>[-+]?[A-Za-z_][\w.]*)
    |(?P<punct>[{}<>:\[\],;])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


class TextFormatError(ValueError):
    """The text is not a protocol-buffer text-format message (the message says where)."""


@dataclass
class Message:
    """A parsed message: fields in file order; names may repeat (repeated fields)."""

    fields: list[tuple[str, Message | Scalar]] = field(default_factory=list)

    def all(self, name: str) -> list[Message | Scalar]:
        return [v for k, v in self.fields if k == name]

    def messages(self, name: str) -> list[Message]:
        return [v for k, v in self.fields if k == name and isinstance(v, Message)]

    def message(self, name: str) -> Message:
        """The last ``name`` sub-message, or an empty one (protobuf merge semantics, simplified)."""
        found = self.messages(name)
        return found[-1] if found else Message()

    def get(self, name: str, default: Scalar) -> Scalar:
        values = [v for v in self.all(name) if not isinstance(v, Message)]
        return values[-1] if values else default

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self.fields)

    def number(self, name: str, default: float) -> float:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TextFormatError(f"field '{name}' should be a number, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int) -> int:
        value = self.number(name, default)
        if value != int(value):
            raise TextFormatError(f"field '{name}' should be a whole number, got {value}")
        return int(value)

    def numbers(self, name: str) -> list[float]:
        out: list[float] = []
        for v in self.all(name):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TextFormatError(f"field '{name}' should hold numbers, got {v!r}")
            out.append(float(v))
        return out

    def text(self, name: str, default: str) -> str:
        value = self.get(name, default)
        return value if isinstance(value, str) else str(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        if isinstance(value, str):
            if value.lower() in ("true", "t"):
                return True
            if value.lower() in ("false", "f"):
                return False
        if isinstance(value, int | float):
            return bool(value)
        raise TextFormatError(f"field '{name}' should be true or false, got {value!r}")


def _unquote(token: str, line: int) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise TextFormatError(f"line {line}: unsupported escape \\{nxt} in a string")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """(kind, text, line) of each token, lazily: a crafted file fails before it is all read."""
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            snippet = text[pos : pos + 20].split("\n")[0]
            raise TextFormatError(f"line {line}: unexpected text '{snippet}'")
        kind = match.lastgroup or ""
        value = match.group()
        if kind != "space":
            yield kind, value, line
        line += value.count("\n")
        pos = match.end()


class _Stream:
    """Tokens with one of lookahead."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._next = next(self._tokens, None)

    def peek(self) -> tuple[str, str, int] | None:
        return self._next

    def take(self) -> tuple[str, str, int] | None:
        token, self._next = self._next, next(self._tokens, None)
        return token


def _scalar(kind: str, value: str, line: int) -> Scalar:
    if kind == "string":
        return _unquote(value, line)
    if kind == "number":
        body = value.rstrip("fF")
        if re.fullmatch(r"[-+]?\d+", body):
            return int(body)
        return float(body)
    if kind == "ident":
        low = value.lower()
        if low in ("inf", "infinity", "-inf", "-infinity", "nan"):
            return float(low)
        return value
    raise TextFormatError(f"line {line}: expected a value, got '{value}'")


def parse(text: str) -> Message:
    """Parse a whole text-format message.

    Raises:
        TextFormatError: bad syntax (with the line), nesting deeper than ``MAX_DEPTH``,
            or more than ``MAX_FIELDS`` fields.
    """
    tokens = _Stream(text)
    stack: list[tuple[Message, str]] = [(Message(), "")]
    count = 0
    while (token := tokens.take()) is not None:
        kind, value, line = token
        closer = stack[-1][1]
        if kind == "punct" and value in "}>":
            if value != closer:
                raise TextFormatError(f"line {line}: unexpected '{value}'")
            stack.pop()
            continue
        if kind == "punct" and value in ",;":
            continue
        if kind != "ident":
            raise TextFormatError(f"line {line}: expected a field name, got '{value}'")
        count += 1
        if count > MAX_FIELDS:
            raise TextFormatError(f"more than {MAX_FIELDS} fields: not a model description")
        _field(tokens, stack, value, line)
    if len(stack) != 1:
        raise TextFormatError("the file ends inside a message: a '}' is missing")
    return stack[0][0]


def _field(tokens: _Stream, stack: list[tuple[Message, str]], name: str, line: int) -> None:
    """The value of field ``name`` (its name already taken), added to the innermost message."""
    current = stack[-1][0]
    ahead = tokens.peek()
    has_colon = ahead is not None and ahead[1] == ":"
    if has_colon:
        tokens.take()
    token = tokens.take()
    if token is None:
        raise TextFormatError(f"line {line}: field '{name}' has no value")
    kind, value, line = token
    if kind == "punct" and value in "{<":
        if len(stack) > MAX_DEPTH:
            raise TextFormatError(f"line {line}: messages nested deeper than {MAX_DEPTH} levels")
        child = Message()
        current.fields.append((name, child))
        stack.append((child, "}" if value == "{" else ">"))
    elif kind == "punct" and value == "[":
        while (item := tokens.take()) is not None and item[1] != "]":
            if not (item[0] == "punct" and item[1] == ","):
                current.fields.append((name, _scalar(*item)))
        if item is None:
            raise TextFormatError(f"line {line}: list for '{name}' is not closed with ']'")
    elif not has_colon:
        raise TextFormatError(f"line {line}: expected ':' or '{{' after '{name}'")
    else:
        scalar = _scalar(kind, value, line)
        while kind == "string" and (ahead := tokens.peek()) is not None and ahead[0] == "string":
            assert isinstance(scalar, str)
            scalar += _unquote(ahead[1], ahead[2])  # adjacent string literals concatenate
            tokens.take()
        current.fields.append((name, scalar))
