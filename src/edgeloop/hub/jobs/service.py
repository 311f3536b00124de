"""What ``edgeloop hub serve`` runs beside the API: the job worker and the retrain triggers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.config import HubConfig
from edgeloop.hub.db import create_engine
from edgeloop.hub.jobs.queue import worker_name
from edgeloop.hub.jobs.runner import JobEnv

log = logging.getLogger("edgeloop.hub.jobs")


class Closeable(Protocol):
    def close(self, timeout_s: float | None = None) -> None: ...


@dataclass
class Services:
    """The threads started for one hub process; ``close`` stops them."""

    env: JobEnv | None = None
    running: list[Closeable] = field(default_factory=list)

    def close(self, timeout_s: float = 5.0) -> None:
        for item in reversed(self.running):
            item.close(timeout_s)
        self.running.clear()
        if self.env is not None:
            self.env.blobs.close()
            self.env.engine.dispose()
            self.env = None


def runs_worker(config: HubConfig) -> bool:
    """Whether ``hub serve`` runs jobs itself: by default on SQLite, on PostgreSQL with --worker."""
    if config.worker is not None:
        return config.worker
    return not config.database_url.startswith("postgresql")


def start_services(config: HubConfig) -> Services:
    """Start the job worker (see ``runs_worker``) and the triggers of ``--retrain`` (if given)."""
    services = Services()
    if not runs_worker(config) and config.retrain_file is None:
        return services
    engine = create_engine(config.database_url)
    env = JobEnv(engine, open_blobs(config.blobs), config.keys_dir, worker_name("hub"))
    services.env = env
    try:
        if runs_worker(config):
            if engine.dialect.name == "postgresql":
                from edgeloop.hub.jobs.pgqueue import PgWorkerThread

                services.running.append(PgWorkerThread(config.database_url, env).start())
            else:
                from edgeloop.hub.jobs.inprocess import InProcessWorker

                services.running.append(InProcessWorker(env).start())
            log.info("job worker running in this hub process (%s)", env.worker)
        if config.retrain_file is not None:
            from edgeloop.hub.jobs.triggers import TriggerThread, load_plan

            services.running.append(TriggerThread(engine, load_plan(config.retrain_file)).start())
    except BaseException:
        services.close()
        raise
    return services
