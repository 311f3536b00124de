"""Name -> "module:attr" registries, imported lazily on first use.

Registries are explicit dicts so that adding an entry is one line and so that
importing edgeloop never imports an optional runtime library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from edgeloop.errors import EdgeloopError


class Registry:
    """A named mapping from short names to lazily imported objects."""

    def __init__(self, kind: str, entries: Mapping[str, str], error: type[EdgeloopError]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._error = error
        self._cache: dict[str, Any] = {}

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def location(self, name: str) -> str:
        """Where ``name`` lives, as ``"module:attr"``, without importing it (KeyError if unknown)."""
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        """Import and return the object registered as ``name``."""
        if name not in self._entries:
            known = ", ".join(self._entries)
            raise self._error(f"unknown {self.kind} '{name}': choose one of {known}")
        if name not in self._cache:
            module_name, _, attr = self._entries[name].partition(":")
            module = importlib.import_module(module_name)
            self._cache[name] = getattr(module, attr)
        return self._cache[name]
