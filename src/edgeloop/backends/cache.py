"""Where backends cache what they compile (TensorRT engines, calibration tables).

Never next to the model: a bundle folder is verified, signed and shipped as it
is, and may be read-only on a device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def user_cache_dir(*parts: str, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """``$XDG_CACHE_HOME/edgeloop/<parts>``, or ``~/.cache/edgeloop/<parts>``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base directory spec says.
    """
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else (home or Path.home()) / ".cache"
    return root.joinpath("edgeloop", *parts)
