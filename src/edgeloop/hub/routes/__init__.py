"""The hub's routers, by module path (each module has a ``router``); add one line per module."""

ROUTERS: tuple[str, ...] = (
    "edgeloop.hub.routes.health",
    "edgeloop.hub.routes.devices",
    "edgeloop.hub.routes.device",
    "edgeloop.hub.routes.samples",
    "edgeloop.hub.routes.uploads",
    "edgeloop.hub.routes.datasets",
    "edgeloop.hub.routes.review",
    "edgeloop.hub.routes.jobs",
    "edgeloop.hub.routes.models",
    "edgeloop.hub.routes.rollouts",
    "edgeloop.hub.routes.device_updates",
    "edgeloop.hub.routes.web",
)
