"""The hub side of a retrain job: dataset versions, the registry and the keys for
``edgeloop.retrain.job.run_retrain`` (which must not import the hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeloop.hub import datasets, registry
from edgeloop.hub.jobs.queue import Job
from edgeloop.hub.jobs.runner import JobEnv, Reporter
from edgeloop.retrain.job import CurrentModel, DatasetRef, run_retrain
from edgeloop.retrain.params import parse_params


class HubRetrain:
    """``RetrainHub`` over a hub's database and blob store."""

    def __init__(self, env: JobEnv) -> None:
        self.env = env

    @property
    def keys_dir(self) -> Path | None:
        return self.env.keys_dir

    def export_dataset(self, name: str, version: int | None, out: Path, snapshot: bool) -> DatasetRef:
        if snapshot:
            made = datasets.create_version(self.env.engine, name, note="retrain snapshot")
            version = made.version
        result = datasets.export(self.env.engine, self.env.blobs, name, version, out)
        return DatasetRef(result.name, result.version, result.fingerprint, result.path, dict(result.counts))

    def export_field(self, name: str, out: Path) -> DatasetRef | None:
        newest = datasets.list_versions(self.env.engine, name)
        if not newest:
            return None
        return self.export_dataset(name, newest[-1].version, out, snapshot=False)

    def current_model(self, name: str, out: Path) -> CurrentModel | None:
        found = registry.current(self.env.engine, name)
        if found is None:
            return None
        bundle, checkpoint = registry.fetch(self.env.blobs, found, out)
        return CurrentModel(found.version, bundle, checkpoint)

    def reserve(
        self, name: str, parent: int | None, dataset: DatasetRef, trigger: str, job_id: int | None
    ) -> int:
        return registry.reserve(
            self.env.engine,
            name,
            parent_version=parent,
            dataset=(dataset.name, dataset.version, dataset.fingerprint),
            trigger=trigger,
            job_id=job_id,
        )

    def complete(
        self,
        name: str,
        version: int,
        *,
        status: str,
        bundle: Path | None,
        checkpoint: Path | None,
        metrics: dict[str, Any],
        gate: dict[str, Any] | None,
        gate_files: list[Path],
        counter: int | None,
        key_id: str | None,
    ) -> dict[str, Any]:
        for path in gate_files:
            if path.is_file():
                self.env.blobs.put(registry.blob_key(name, version, f"gate/{path.name}"), path.read_bytes())
        stored = registry.complete(
            self.env.engine,
            self.env.blobs,
            name,
            version,
            status=status,
            bundle_dir=bundle,
            checkpoint=checkpoint,
            metrics=metrics,
            gate=gate,
            counter=counter,
            key_id=key_id,
        )
        return stored.as_dict(gate=False)


def run(env: JobEnv, job: Job, reporter: Reporter) -> dict[str, Any]:
    """The ``retrain`` job kind."""
    params = parse_params(job.params, f"job {job.id}")
    return run_retrain(HubRetrain(env), params, reporter, trigger=job.trigger, job_id=job.id)
