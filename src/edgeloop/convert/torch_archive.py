"""Look inside a PyTorch file without unpickling or running anything, and refuse what is unsafe.

PyTorch writes three kinds of files, all of them (usually) zip archives with one root folder:

- TorchScript (``torch.jit.save``): ``<root>/code/`` (TorchScript source), ``constants.pkl`` and
  ``data.pkl``, which ``torch.jit.load`` reads with TorchScript's own restricted unpickler (it
  builds tensors and TorchScript classes only, never calls Python).
- torch.export programs (``torch.export.save``, ``.pt2``): ``<root>/archive_format`` ("pt2"),
  ``models/<name>.json`` (the serialized graph), raw weight files and their JSON configs.
- ``torch.save`` pickles (``data.pkl`` + ``data/``, or a legacy non-zip pickle): loading one
  runs whatever the pickle says. edgeloop refuses them.

Only the zip's central directory and small JSON/text members are read, within fixed limits.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgeloop.convert.torch_pickle import check_storages
from edgeloop.errors import ModelImportError

MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 2 * 1024**3  # the sum of the members' uncompressed sizes
MAX_TEXT_BYTES = 64 * 1024**2  # one JSON or TorchScript source member read into memory
MAX_RATIO = 200  # uncompressed / compressed size of one member (zip bombs)

HOW_TO_EXPORT = (
    "export the model instead: TorchScript (torch.jit.script or torch.jit.trace, then torch.jit.save), "
    "torch.export (torch.export.export, then torch.export.save to a .pt2), or ONNX (torch.onnx.export)"
)
_REFUSAL_REASON = (
    "edgeloop never unpickles a received file, because unpickling runs any code the file names; "
    + HOW_TO_EXPORT
)
PICKLE_REFUSAL = "is a pickled torch.save file (a whole model or a state_dict): " + _REFUSAL_REASON

# TorchScript calls that touch files or debug hooks: refused before torch.jit.load compiles the code.
_TS_DENIED = re.compile(r"\b(save|from_file|load_tensor|_load_for_mobile|_load_for_lite_interpreter)\s*\(")
# torch.export graph targets that may be run: torch operators and plain operator/math functions.
_EXPORT_TARGET = re.compile(
    r"^(torch\.ops\.(aten|prims)\.\w+(\.\w+)?"
    r"|_operator\.(getitem|add|sub|mul|truediv|floordiv|mod|neg|pow|eq|ne|lt|le|gt|ge|and_|or_|not_|abs)"
    r"|math\.(ceil|floor|trunc|sqrt))$"
)
_EXPORT_DENIED_OPS = frozenset({"torch.ops.aten.save.default", "torch.ops.aten.from_file.default"})
# Symbolic shape expressions are parsed by sympy (which evaluates them): plain arithmetic only.
_SYM_EXPR = re.compile(r"^[A-Za-z0-9 +\-*/(),<>=%!]*$")
_SYM_NAMES = frozenset({
    "Max", "Min", "FloorDiv", "CeilDiv", "Mod", "PythonMod", "CleanDiv", "IntTrueDiv", "FloatTrueDiv",
    "ToFloat", "TruncToInt", "TruncToFloat", "floor", "ceiling", "Abs", "Eq", "Ne", "Lt", "Le", "Gt",
    "Ge", "And", "Or", "Not", "True", "False", "oo", "sqrt", "Pow",
})  # fmt: skip


# What torch.export.save writes; anything else in a .pt2 (data/aotinductor/ holds compiled
# shared libraries that torch.export.load would load) is refused.
_PT2_FILES = frozenset({"archive_format", "archive_version", "byteorder"})
_PT2_FOLDERS = (".data/", "models/", "data/weights/", "data/constants/", "data/sample_inputs/", "extra/")


@dataclass(frozen=True)
class TorchArchive:
    """A PyTorch archive that passed the checks.

    Attributes:
        kind: torchscript or export.
        root: the archive's root folder (``model/``), with the slash.
        models: for export archives, the program names in ``models/`` (``model``).
    """

    kind: Literal["torchscript", "export"]
    root: str
    models: tuple[str, ...] = ()


def inspect_archive(path: Path) -> TorchArchive:
    """What ``path`` holds, checked without unpickling or running anything.

    Raises:
        ModelImportError: a pickle, not a PyTorch archive, over the size limits, or holding
            something that would run code when loaded.
    """
    with path.open("rb") as f:
        head = f.read(4)
    if not zipfile.is_zipfile(path):
        if head[:1] == b"\x80":  # pickle protocol 2+: torch.save's legacy (pre-1.6) format
            raise ModelImportError(f"{path.name} is a legacy (non-zip) torch.save pickle: {_REFUSAL_REASON}")
        if head[:2] == b"PK":
            raise ModelImportError(
                f"{path.name}: a damaged zip archive (truncated?); copy or export it again"
            )
        raise ModelImportError(f"{path.name}: not a PyTorch archive (no zip structure); {HOW_TO_EXPORT}")
    try:
        with zipfile.ZipFile(path) as archive:
            return _inspect_zip(path, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ModelImportError(
            f"{path.name}: a damaged zip archive ({exc}); copy or export it again"
        ) from None


def check_zip_sizes(label: str, archive: zipfile.ZipFile, size: int) -> None:
    """Refuse a zip (of ``size`` bytes) whose central directory claims too many members, members
    larger than the file could hold, or more than ``MAX_TOTAL_BYTES`` unpacked: read before any
    member is.

    Raises:
        ModelImportError: naming ``label`` and the first member that lies.
    """
    infos = archive.infolist()
    if not infos or len(infos) > MAX_MEMBERS:
        raise ModelImportError(f"{label}: {len(infos)} archive members (edgeloop reads 1 to {MAX_MEMBERS})")
    total = 0
    for info in infos:
        total += info.file_size
        stored = info.compress_type == zipfile.ZIP_STORED
        if (
            info.compress_size > size
            or (stored and info.file_size != info.compress_size)
            or info.file_size > MAX_RATIO * max(info.compress_size, 1) + 1024**2
        ):
            raise ModelImportError(
                f"{label}: archive member {info.filename[:80]!r} claims {info.file_size} bytes in "
                f"{info.compress_size} of a {size}-byte file: the archive is damaged or crafted"
            )
    if total > MAX_TOTAL_BYTES:
        raise ModelImportError(
            f"{label}: the archive unpacks to {total} bytes (edgeloop reads up to {MAX_TOTAL_BYTES})"
        )


def _inspect_zip(path: Path, archive: zipfile.ZipFile) -> TorchArchive:
    check_zip_sizes(path.name, archive, path.stat().st_size)
    infos = archive.infolist()
    names = {info.filename for info in infos}
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in n or ".." in n.split("/") for n in names):
        raise ModelImportError(f"{path.name}: not a PyTorch archive (members outside one root folder)")
    root = f"{roots.pop()}/"
    if any(n.startswith(f"{root}code/") for n in names):
        if {f"{root}constants.pkl", f"{root}data.pkl"} - names:
            raise ModelImportError(f"{path.name}: a TorchScript archive without constants.pkl or data.pkl")
        _check_torchscript_code(path, archive, root)
        check_storages(path.name, archive, f"{root}data.pkl", f"{root}data/")
        check_storages(path.name, archive, f"{root}constants.pkl", f"{root}constants/")
        return TorchArchive("torchscript", root)
    if f"{root}archive_format" in names:
        if _read_text(archive, f"{root}archive_format").strip() != "pt2":
            raise ModelImportError(f"{path.name}: an archive_format other than pt2")
        models = tuple(
            sorted(
                n[len(f"{root}models/") : -5]
                for n in names
                if re.fullmatch(re.escape(root) + r"models/\w+\.json", n)
            )
        )
        if "model" not in models:
            raise ModelImportError(f"{path.name}: a .pt2 archive without its program (models/model.json)")
        _check_export_members(path, names, root)
        for model in models:
            _check_export_program(path, archive, root, model)
        return TorchArchive("export", root, models)
    if f"{root}data.pkl" in names:
        raise ModelImportError(f"{path.name} {PICKLE_REFUSAL}")
    raise ModelImportError(f"{path.name}: a zip archive but not a PyTorch one; {HOW_TO_EXPORT}")


def _read_text(archive: zipfile.ZipFile, name: str) -> str:
    info = archive.getinfo(name)
    if info.file_size > MAX_TEXT_BYTES:
        raise ModelImportError(f"archive member {name!r} is {info.file_size} bytes (up to {MAX_TEXT_BYTES})")
    data = archive.read(name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelImportError(f"archive member {name!r} is not UTF-8 text") from None


def _read_json(path: Path, archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(_read_text(archive, name))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelImportError(f"{path.name}: {name.split('/', 1)[-1]} is not valid JSON ({exc})") from None


def _check_torchscript_code(path: Path, archive: zipfile.ZipFile, root: str) -> None:
    for info in archive.infolist():
        if info.filename.startswith(f"{root}code/") and info.filename.endswith(".py"):
            match = _TS_DENIED.search(_read_text(archive, info.filename))
            if match:
                raise ModelImportError(
                    f"{path.name}: its TorchScript code calls {match.group(1)}() (file access); "
                    "edgeloop does not load models that read or write files"
                )


def _check_export_members(path: Path, names: set[str], root: str) -> None:
    """Refuse members torch.export.load would act on beyond the graph and raw tensors
    (compiled AOTInductor libraries, ExecuTorch programs, external weights)."""
    for name in sorted(names):
        inner = name[len(root) :]
        if inner not in _PT2_FILES and not inner.startswith(_PT2_FOLDERS):
            raise ModelImportError(
                f"{path.name}: the .pt2 archive holds {inner[:80]!r}; edgeloop reads exported programs "
                "(graph, weights, constants, sample inputs) only, not compiled code"
            )


def _check_export_program(path: Path, archive: zipfile.ZipFile, root: str, model: str) -> None:
    names = set(archive.namelist())
    for part in ("weights", "constants"):
        if f"{root}data/{part}/{model}.pt" in names:
            raise ModelImportError(
                f"{path.name}: a legacy .pt2 with pickled {part}; save it again with torch 2.6+"
            )
        config = f"{root}data/{part}/{model}_{part}_config.json"
        if config not in names:
            raise ModelImportError(f"{path.name}: a .pt2 archive without {config.split('/', 1)[1]}")
        entries = _read_json(path, archive, config).get("config", {})
        if not isinstance(entries, dict):
            raise ModelImportError(f"{path.name}: {part} config is not a mapping")
        prefix = "weight_" if part == "weights" else "tensor_"
        for fqn, meta in entries.items():
            if (
                not isinstance(meta, dict)
                or meta.get("use_pickle") is not False
                or not str(meta.get("path_name", "")).startswith(prefix)
            ):
                raise ModelImportError(
                    f"{path.name}: {part[:-1]} {str(fqn)[:60]!r} is stored as a pickle; edgeloop reads raw "
                    "tensors only (export a model without custom objects)"
                )
    program = _read_json(path, archive, f"{root}models/{model}.json")
    for key, value in _walk(program):
        if key in ("target", "as_operator") and isinstance(value, str):
            if not _EXPORT_TARGET.match(value) or value in _EXPORT_DENIED_OPS:
                raise ModelImportError(
                    f"{path.name}: the program calls {value[:80]!r}, not a torch operator edgeloop runs"
                )
        elif key == "expr_str" and isinstance(value, str) and not _safe_sym_expr(value):
            raise ModelImportError(f"{path.name}: a shape expression edgeloop does not read: {value[:80]!r}")
        elif key in ("as_custom_obj", "custom_obj_info") and value:
            raise ModelImportError(
                f"{path.name}: the program holds custom objects; edgeloop reads tensors only"
            )


def _safe_sym_expr(text: str) -> bool:
    if "__" in text or not _SYM_EXPR.match(text):
        return False
    return all(
        re.fullmatch(r"[a-z]+\d+", word) or word in _SYM_NAMES
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    )


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(key, value) of every mapping entry in a JSON document, depth-first (bounded depth)."""
    if depth > 200:
        raise ModelImportError("the program's JSON nests deeper than 200 levels")
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)
