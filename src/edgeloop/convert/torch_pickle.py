"""Read the tensor records a torch pickle refers to, without unpickling it.

``torch.jit.load`` and ``torch.load`` build each tensor's storage from a zip record
(``data/<key>``) and a element count given in the pickle; torch 2.13 does not check the
record is long enough (a TorchScript archive whose record was cut to 4 bytes loaded with
heap garbage as weights). ``check_storages`` walks the pickle's opcodes with ``pickletools``
(nothing is built or called) and refuses records shorter than the pickle says.
"""

from __future__ import annotations

import pickletools
import zipfile
from typing import Any

from edgeloop.errors import ModelImportError

MAX_PICKLE_BYTES = 64 * 1024**2

# torch's legacy typed-storage class names -> bytes per element.
ITEM_BYTES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
    "UntypedStorage": 1, "QInt8Storage": 1, "QUInt8Storage": 1, "QInt32Storage": 4,
    "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
}  # fmt: skip
_PUSHES = frozenset(
    {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BININT", "BININT1", "BININT2", "LONG1",
     "INT", "LONG", "GLOBAL", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)  # fmt: skip


def storages(data: bytes) -> list[tuple[str, str, int]]:
    """(storage type, record key, element count) of every tensor storage the pickle names.

    Raises:
        ValueError: not a pickle pickletools can read, or a storage reference of another shape.
    """
    memo: dict[int, Any] = {}
    groups: list[list[Any]] = []
    top_tuple: list[Any] | None = None  # the tuple just built, while it is on top of the stack
    last: Any = None
    found = []
    for op, arg, _ in pickletools.genops(data):
        key: Any = arg
        name = op.name
        value: Any = None
        if name in _PUSHES:
            value = arg
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            value = memo.get(int(key))
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(key)] = last
        elif name == "MEMOIZE":
            memo[len(memo)] = last
        if name == "MARK":
            groups.append([])
        elif name == "TUPLE":
            top_tuple = groups.pop() if groups else None
        elif name == "BINPERSID":
            # torch writes the reference's tuple right before it (torch.save memoizes it first):
            # a reference from the memo or built otherwise could differ from the tuple read here.
            if top_tuple is None:
                raise ValueError("a persistent reference not built right before it, as torch writes them")
            if len(top_tuple) != 5 or top_tuple[0] != "storage":
                raise ValueError(f"a persistent reference {top_tuple[:5]!r} that is not a tensor storage")
            kind, key, _location, numel = top_tuple[1:]
            found.append((str(kind).rsplit(" ", 1)[-1].rsplit(".", 1)[-1], str(key), int(numel)))
        elif name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE") and groups:
            groups[-1].append(value)
        if name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):  # a memo put leaves the stack as is
            last = value
            if name != "TUPLE":
                top_tuple = None
    return found


def check_storages(label: str, archive: zipfile.ZipFile, pickle_name: str, folder: str) -> None:
    """Refuse a pickle (``pickle_name`` in ``archive``) naming tensor records that are missing from
    ``folder`` or shorter than its element count says.

    Raises:
        ModelImportError: naming ``label`` and the record.
    """
    size = archive.getinfo(pickle_name).file_size
    if size > MAX_PICKLE_BYTES:
        raise ModelImportError(
            f"{label}: {pickle_name} is {size} bytes (edgeloop reads up to {MAX_PICKLE_BYTES})"
        )
    try:
        found = storages(archive.read(pickle_name))
    except (ValueError, TypeError, IndexError) as exc:
        raise ModelImportError(f"{label}: {pickle_name.rsplit('/', 1)[-1]} cannot be read ({exc})") from None
    names = set(archive.namelist())
    for kind, key, numel in found:
        record = f"{folder}{key}"
        if kind not in ITEM_BYTES:
            raise ModelImportError(
                f"{label}: a tensor of storage type {kind[:40]!r}, which edgeloop does not read"
            )
        if record not in names:
            raise ModelImportError(f"{label}: the tensor record {key[:40]!r} is missing")
        have, need = archive.getinfo(record).file_size, numel * ITEM_BYTES[kind]
        if have < need:
            raise ModelImportError(
                f"{label}: tensor record {key[:40]!r} holds {have} bytes but the model says {need}: "
                "the archive is damaged or crafted"
            )
