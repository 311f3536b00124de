"""The servers' own tests use the same fixtures the hub's tests import."""

from edgeloop.testing.fixtures import moto_endpoint, pg_server, pg_url, s3_url

__all__ = ["moto_endpoint", "pg_server", "pg_url", "s3_url"]
