"""Optional libraries, imported with an error that says which extra brings them.

The device path (decode, preprocess, inference, serving) needs none of these;
OpenCV, for one, is only for video, dataset tools, training and charts.
"""

from __future__ import annotations

import importlib
from typing import Any

from edgeloop.errors import FeatureUnavailable


def require(module: str, package: str, extra: str, feature: str) -> Any:
    """Import ``module`` or raise ``FeatureUnavailable`` naming the install that provides it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise
        raise FeatureUnavailable(
            f"{package} is needed for {feature}: pip install 'edgeloop[{extra}]'"
        ) from None
    except ImportError as exc:  # installed but broken, e.g. a system library missing
        raise FeatureUnavailable(
            f"{package} is needed for {feature} but failed to import ({exc}): reinstall it with "
            f"pip install --force-reinstall 'edgeloop[{extra}]'"
        ) from None


def require_opencv(feature: str, extra: str = "opencv") -> Any:
    """OpenCV (opencv-python-headless), for ``feature``."""
    return require("cv2", "OpenCV (opencv-python-headless)", extra, feature)
