"""The hub's settings (``edgeloop hub serve``), validated once at the CLI boundary."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edgeloop.imaging import DEFAULT_MAX_PIXELS

MIB = 1024 * 1024
ADMIN_TOKEN_ENV = "EDGELOOP_HUB_ADMIN_TOKEN"


class HubConfig(BaseModel):
    """Where the hub keeps its data, where it listens, and its limits.

    ``db_url`` and ``blobs_url`` default to a SQLite file and a blob folder inside ``data_dir``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path
    db_url: str | None = None
    blobs_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8700, ge=0, le=65535)
    # The admin token comes from this file, else from $EDGELOOP_HUB_ADMIN_TOKEN, else from
    # DATA/admin.token (created at first start, mode 0600).
    admin_token_file: Path | None = None
    mqtt_url: str | None = None
    max_sample_bytes: int = Field(16 * MIB, ge=1)
    max_batch_items: int = Field(64, ge=1)
    max_batch_bytes: int = Field(32 * MIB, ge=1)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    max_meta_bytes: int = Field(256 * 1024, ge=1)
    # Retrain jobs: the signing keys folder (edgeloop keys generate), the retrain plan
    # (retrain.yaml: triggers), and whether this process runs jobs (None: yes on SQLite, no on
    # PostgreSQL, where `edgeloop hub worker` processes run them).
    keys_dir: Path | None = None
    retrain_file: Path | None = None
    worker: bool | None = None

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the metadata database."""
        return self.db_url or f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def blobs(self) -> str:
        """The blob store URL (a folder path, ``file://`` or ``s3://``)."""
        return self.blobs_url or str((self.data_dir / "blobs").resolve())
