"""Output decoders and the output-family registry (``families/``, one module per family)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from edgeloop.postprocess.families import DECODERS, FAMILIES, get_family
from edgeloop.postprocess.options import DecodeOptions


class _Tasks(Mapping[str, str]):
    """Read-only view of FAMILIES: name -> task (imports the family asked for)."""

    def __getitem__(self, name: str) -> str:
        if name not in FAMILIES:
            raise KeyError(name)
        return get_family(name).task

    def __iter__(self) -> Iterator[str]:
        return iter(FAMILIES.names())

    def __len__(self) -> int:
        return len(FAMILIES.names())


FAMILY_TASK: Mapping[str, str] = _Tasks()

__all__ = ["DECODERS", "FAMILIES", "FAMILY_TASK", "DecodeOptions", "get_family"]
