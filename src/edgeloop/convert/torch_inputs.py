"""The sample inputs of a .pt2 program, read without unpickling anything but plain tensors.

``torch.export.load`` reads each program's ``data/sample_inputs/<name>.pt`` (a ``torch.save``
zip) with ``torch.load(weights_only=True)`` and, when that fails, again without restrictions.
Reading them here first, with the same restricted loader after the size checks, means a file
whose sample inputs would need unrestricted unpickling never reaches it. torch is passed in:
only ``convert.pytorch`` imports it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from edgeloop.convert.torch_archive import MAX_TEXT_BYTES, TorchArchive, check_zip_sizes
from edgeloop.convert.torch_pickle import check_storages
from edgeloop.errors import ModelImportError


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's run to pages), at most 300 characters."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def read_sample_inputs(torch: Any, path: Path, archive: TorchArchive) -> Any:
    """The programs' sample inputs, read with ``torch.load(weights_only=True)``: tensors and plain
    containers only. (torch.export.load tries the same first, and unpickles without restrictions
    when that fails: a file that fails here never reaches it.) Those of ``model``."""
    found: Any = None
    with zipfile.ZipFile(path) as zf:
        for model in archive.models:
            name = f"{archive.root}data/sample_inputs/{model}.pt"
            if name not in zf.namelist() or zf.getinfo(name).file_size > MAX_TEXT_BYTES:
                raise ModelImportError(f"{path.name}: a .pt2 archive without readable sample inputs")
            data = zf.read(name)
            try:  # a torch.save zip itself: its sizes are checked like the archive's
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    label = f"{path.name}: sample inputs"
                    check_zip_sizes(label, inner, len(data))
                    root = inner.namelist()[0].split("/", 1)[0]
                    check_storages(label, inner, f"{root}/data.pkl", f"{root}/data/")
                inputs = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
            except ModelImportError:
                raise
            except Exception as exc:
                named = re.search(r"(?i)unsupported (?:global:? )?GLOBAL ([\w.]+)", str(exc))
                why = f"they name {named.group(1)}" if named else first_line(exc)
                raise ModelImportError(
                    f"{path.name}: its sample inputs are not plain tensors ({why}); "
                    "edgeloop never unpickles anything else"
                ) from None
            if model == "model":
                found = inputs
    return found
