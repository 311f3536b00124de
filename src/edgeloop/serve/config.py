"""Server settings, validated once at the boundary (CLI or environment)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field

from edgeloop.backends import BackendConfig, OnnxRuntimeConfig
from edgeloop.errors import ConfigError
from edgeloop.imaging import DEFAULT_MAX_PIXELS


class ServeConfig(BaseModel):
    """How `edgeloop serve` runs."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=9001, ge=0, le=65535)
    token: str | None = Field(default=None, description="bearer token; required off loopback")
    max_body_bytes: int = Field(default=20 * 2**20, ge=1024)
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    request_timeout_s: float = Field(default=30.0, gt=0)
    queue_size: int = Field(default=32, ge=1, description="waiting requests per model before 503")
    max_batch: int = Field(default=1, ge=1, description="images per inference call (dynamic-batch models)")
    max_wait_ms: float = Field(default=2.0, ge=0, description="how long to wait to fill a batch")
    backend: BackendConfig = Field(
        default_factory=OnnxRuntimeConfig, description="the backend every model runs on, and its settings"
    )
    check_samples: bool = True
    max_pipelines: int = Field(default=4, ge=0, description="video pipelines running at once (/v1/pipelines)")
    output_dir: str | None = Field(
        default=None, description="where pipelines' file sinks may write; None refuses file sinks over HTTP"
    )
    capture_policy: str | None = Field(
        default=None, description="capture policy YAML: keep frames from requests (docs/improve.md)"
    )
    spool_dir: str | None = Field(default=None, description="spool folder for capture_policy")
    device_id: str | None = Field(
        default=None, description="stored with captured frames (default: host name)"
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(config: ServeConfig) -> None:
    """Refuse to listen beyond loopback without a token.

    Raises:
        ConfigError: a non-loopback host and no token.
    """
    if not is_loopback(config.host) and not config.token:
        raise ConfigError(
            f"refusing to listen on {config.host} without a token: anyone on the network could use it; "
            "pass --token (or set EDGELOOP_TOKEN), or bind --host 127.0.0.1"
        )
