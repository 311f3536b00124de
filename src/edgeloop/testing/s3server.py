"""An S3-compatible server on a loopback port for tests: moto's server mode (``moto[server]``).

No MinIO or similar is available from the package registries; moto's server
speaks the S3 REST API (including multipart uploads) over real HTTP, in
memory, offline. Everything it holds is lost when it stops.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeloop.testing.components import ComponentMissing, ServerFailed, free_port, log_tail, stop_process

REGION = "us-east-1"


def s3_env(endpoint: str) -> dict[str, str]:
    """Environment for boto3 and edgeloop's S3 store to reach ``endpoint`` with moto's test credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "EDGELOOP_S3_ENDPOINT": endpoint,
    }


def require_moto_server() -> None:
    """Raise ComponentMissing unless moto's server mode (moto + flask) is importable."""
    for module in ("moto.server", "flask", "boto3"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise ComponentMissing("moto's S3 server", "pip install 'moto[server]' boto3 (the dev extra)")


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1.0) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def moto_server(timeout_s: float = 30.0) -> Iterator[str]:
    """moto's server on a free loopback port; yields its endpoint ``http://127.0.0.1:PORT``.

    Pair with ``s3_env(endpoint)`` for the credentials and region boto3 needs.
    """
    require_moto_server()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="edgeloop-moto-") as folder:
        log = Path(folder) / "log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout_s
            while not _ready(endpoint):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerFailed(f"moto's server did not start on port {port}:\n{log_tail(log)}")
                time.sleep(0.05)
            yield endpoint
        finally:
            stop_process(proc)


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for ``endpoint`` with the test credentials (for arranging and checking tests)."""
    import boto3

    env = s3_env(endpoint)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def create_bucket(endpoint: str, bucket: str) -> None:
    """Create ``bucket`` on the server at ``endpoint`` (idempotent)."""
    client = s3_client(endpoint)
    try:
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in names:
            client.create_bucket(Bucket=bucket)
    finally:
        client.close()
