"""A parser for the protocol-buffer text format that ``.prototxt`` files are written in.

It knows no schema: a message is an ordered list of (name, value) fields, where a value
is a nested ``Message``, a string, a number or an enum name. Nesting depth, file size
and field counts are bounded so a crafted file cannot exhaust memory or the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_DEPTH = 32
MAX_FIELDS = 1_000_000

Scalar = str | float | int | bool
Value = "Message | Scalar"

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


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            snippet = text[pos : pos + 20].split("\n")[0]
            raise TextFormatError(f"line {line}: unexpected text '{snippet}'")
        kind = match.lastgroup or ""
        value = match.group()
        if kind != "space":
            out.append((kind, value, line))
            if len(out) > 4 * MAX_FIELDS:
                raise TextFormatError(f"more than {MAX_FIELDS} fields: not a model description")
        line += value.count("\n")
        pos = match.end()
    return out


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
    tokens = _tokens(text)
    pos = 0
    stack: list[tuple[Message, str]] = [(Message(), "")]
    while pos < len(tokens):
        kind, value, line = tokens[pos]
        current, closer = stack[-1]
        if kind == "punct" and value in "}>":
            if value != closer:
                raise TextFormatError(f"line {line}: unexpected '{value}'")
            stack.pop()
            pos += 1
            continue
        if kind == "punct" and value in ",;":
            pos += 1
            continue
        if kind != "ident":
            raise TextFormatError(f"line {line}: expected a field name, got '{value}'")
        name = value
        pos += 1
        has_colon = pos < len(tokens) and tokens[pos][1] == ":"
        pos += has_colon
        if pos >= len(tokens):
            raise TextFormatError(f"line {line}: field '{name}' has no value")
        kind, value, line = tokens[pos]
        if kind == "punct" and value in "{<":
            if len(stack) > MAX_DEPTH:
                raise TextFormatError(f"line {line}: messages nested deeper than {MAX_DEPTH} levels")
            child = Message()
            current.fields.append((name, child))
            stack.append((child, "}" if value == "{" else ">"))
            pos += 1
        elif kind == "punct" and value == "[":
            pos += 1
            while pos < len(tokens) and tokens[pos][1] != "]":
                k, v, ln = tokens[pos]
                if not (k == "punct" and v == ","):
                    current.fields.append((name, _scalar(k, v, ln)))
                pos += 1
            if pos >= len(tokens):
                raise TextFormatError(f"line {line}: list for '{name}' is not closed with ']'")
            pos += 1
        elif not has_colon:
            raise TextFormatError(f"line {line}: expected ':' or '{{' after '{name}'")
        else:
            current.fields.append((name, _scalar(kind, value, line)))
            pos += 1
            # Adjacent string literals concatenate.
            while kind == "string" and pos < len(tokens) and tokens[pos][0] == "string":
                previous = current.fields[-1][1]
                assert isinstance(previous, str)
                current.fields[-1] = (name, previous + _unquote(tokens[pos][1], tokens[pos][2]))
                pos += 1
        if len(current.fields) > MAX_FIELDS:
            raise TextFormatError(f"more than {MAX_FIELDS} fields in one message")
    if len(stack) != 1:
        raise TextFormatError("the file ends inside a message: a '}' is missing")
    return stack[0][0]
