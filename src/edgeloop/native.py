"""The optional compiled kernels, ``edgeloop._native`` (built from ``_native.c`` by setup.py).

``kernels`` is the extension module, or None when it was not built (no C
compiler at install time); its users then fall back to slower code that
gives the same results.
"""

from __future__ import annotations

from types import ModuleType

try:
    from edgeloop import _native

    kernels: ModuleType | None = _native
except ImportError:  # pragma: no cover - installs without a C compiler
    kernels = None


def available() -> bool:
    """Whether the compiled kernels (resize, NMS) were built for this install."""
    return kernels is not None
