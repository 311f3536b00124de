"""Every deploy target (and the runtime a target may switch to) starts a registered backend
with a device that backend accepts: what the image's CMD asks for exists in edgeloop."""

from __future__ import annotations

from edgeloop.backends import BACKENDS, backend_config
from edgeloop.deploy.targets import all_targets
from edgeloop.errors import ConfigError


def test_every_target_runs_a_registered_backend_on_a_device_it_has() -> None:
    problems = []
    for key, target in all_targets():
        if target.backend not in BACKENDS:
            problems.append(f"{key}: backend {target.backend!r} is not registered")
            continue
        try:
            backend_config(target.backend, target.device)  # what `serve --backend B --device D` builds
        except ConfigError as exc:
            problems.append(f"{key}: {exc}")
    assert not problems, "targets that cannot start:\n" + "\n".join(problems)
