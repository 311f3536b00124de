"""Output decoders and the output-family registry (``families/``, one module per family)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from edgeloop.errors import ConfigError
from edgeloop.postprocess.families import FAMILIES, Decoder, get_family
from edgeloop.postprocess.options import DecodeOptions


class _Decoders:
    """Read-only view of FAMILIES: name -> decoder, for the families that have one."""

    def names(self) -> list[str]:
        return [n for n in FAMILIES.names() if get_family(n).decode is not None]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> Decoder:
        decode = get_family(name).decode
        if decode is None:
            known = ", ".join(self.names())
            raise ConfigError(f"output family '{name}' has no decoder: choose one of {known}")
        return decode


class _Tasks(Mapping[str, str]):
    """Read-only view of FAMILIES: name -> task."""

    def __getitem__(self, name: str) -> str:
        if name not in FAMILIES:
            raise KeyError(name)
        return get_family(name).task

    def __iter__(self) -> Iterator[str]:
        return iter(FAMILIES.names())

    def __len__(self) -> int:
        return len(FAMILIES.names())


DECODERS = _Decoders()
FAMILY_TASK: Mapping[str, str] = _Tasks()

__all__ = ["DECODERS", "FAMILIES", "FAMILY_TASK", "DecodeOptions", "get_family"]
