"""Deployment recipes: Docker build contexts and systemd services, one per target.

``targets`` holds the data (base images, pinned wheels), ``docker`` and
``systemd`` render the files, ``wheel`` packs the running edgeloop for them.
"""

from __future__ import annotations

from edgeloop.deploy.targets import TARGETS, Target, get_target

__all__ = ["TARGETS", "Target", "get_target"]
