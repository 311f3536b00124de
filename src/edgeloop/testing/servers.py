"""Real servers for the hub's tests, started on loopback ports and stopped by context managers.

One import for the fixtures: PostgreSQL (``postgres_server``, ``PostgresServer``,
``fresh_database``), moto's S3 server (``moto_server``, ``s3_env``,
``create_bucket``), Mosquitto with users and an ACL (``mosquitto_server``) and
a fault-injecting TCP proxy (``FaultProxy``). A missing component raises
``ComponentMissing`` naming its package; ``skip_missing`` / ``need`` turn that
into a skip, or a failure under CI=true. Recipes: FACTS.md.
"""

from __future__ import annotations

from edgeloop.testing.components import (
    ComponentMissing,
    ServerFailed,
    free_port,
    need,
    skip_missing,
    wait_port,
)
from edgeloop.testing.fault_proxy import FaultProxy
from edgeloop.testing.mqtt import Broker, mosquitto_server
from edgeloop.testing.postgres import PostgresServer, fresh_database, postgres_server
from edgeloop.testing.s3server import create_bucket, moto_server, s3_client, s3_env

__all__ = [
    "Broker",
    "ComponentMissing",
    "FaultProxy",
    "PostgresServer",
    "ServerFailed",
    "create_bucket",
    "free_port",
    "fresh_database",
    "mosquitto_server",
    "moto_server",
    "need",
    "postgres_server",
    "s3_client",
    "s3_env",
    "skip_missing",
    "wait_port",
]
