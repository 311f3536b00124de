"""The retrain pipeline: dataset version -> train (from the current model) -> export -> gate ->
sign -> registry, reporting progress and log lines as it goes.

It knows nothing of the hub's tables: ``run_retrain`` works against a ``RetrainHub`` (the hub
implements it in ``edgeloop.hub.jobs.retrain_hub``), so the import layers stay one-way. torch
is imported only once training starts.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgeloop.errors import ConfigError, DatasetError
from edgeloop.retrain.params import RetrainParams

if TYPE_CHECKING:
    from edgeloop.retrain.rules import GateRules

# Progress shares of the steps (they add up to 1).
SHARES = {"data": 0.05, "train": 0.70, "export": 0.05, "gate": 0.17, "store": 0.03}


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version exported to ``path`` (``train/``, ``val/``, ``test/`` sub-datasets)."""

    name: str
    version: int
    fingerprint: str
    path: Path
    counts: dict[str, int]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class CurrentModel:
    """The published model a retrain starts from and is gated against."""

    version: int
    bundle: Path
    checkpoint: Path | None


class Reporter(Protocol):
    """Where a job's progress (0..1) and log lines go."""

    def progress(self, fraction: float) -> None: ...

    def log(self, line: str) -> None: ...


class RetrainHub(Protocol):
    """What the pipeline needs from the hub (datasets, the registry, the signing keys)."""

    @property
    def keys_dir(self) -> Path | None: ...

    def export_dataset(self, name: str, version: int | None, out: Path, snapshot: bool) -> DatasetRef: ...

    def export_field(self, name: str, out: Path) -> DatasetRef | None: ...

    def current_model(self, name: str, out: Path) -> CurrentModel | None: ...

    def reserve(
        self, name: str, parent: int | None, dataset: DatasetRef, trigger: str, job_id: int | None
    ) -> int: ...

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
    ) -> dict[str, Any]: ...


@dataclass
class _Steps:
    """Maps a step's own 0..1 onto the job's progress."""

    reporter: Reporter
    done: float = 0.0
    step: str = "data"

    def begin(self, step: str, line: str) -> None:
        self.done = sum(SHARES[s] for s in SHARES if list(SHARES).index(s) < list(SHARES).index(step))
        self.step = step
        self.reporter.progress(self.done)
        self.reporter.log(line)

    def within(self, fraction: float) -> None:
        self.reporter.progress(self.done + SHARES[self.step] * max(0.0, min(1.0, fraction)))


def _signer(keys_dir: Path | None) -> Any:
    if keys_dir is None:
        raise ConfigError(
            "no signing keys: start the hub (or edgeloop hub worker) with --keys KEYS "
            "(create them with: edgeloop keys generate --dir KEYS)"
        )
    from edgeloop.signing import load_signer

    return load_signer(keys_dir)


def _rules(data: dict[str, Any]) -> Any:
    from edgeloop.retrain.rules import rules_from_dict

    return rules_from_dict(data, "gate rules of the job")


def run_retrain(
    hub: RetrainHub,
    params: RetrainParams,
    reporter: Reporter,
    trigger: str = "manual",
    job_id: int | None = None,
) -> dict[str, Any]:
    """Run one retrain; the registry holds the new version (published or refused) when it returns.

    Raises:
        ConfigError: no signing keys, bad gate rules.
        DatasetError: no such dataset version, or it has no test split.
        TrainError: training or export failed.
    """
    signer = _signer(hub.keys_dir)
    rules = _rules(params.gate)
    steps = _Steps(reporter)
    with tempfile.TemporaryDirectory(prefix="edgeloop-retrain-") as tmp:
        work = Path(tmp)
        steps.begin(
            "data", f"exporting dataset {params.dataset}{' (new version first)' if params.snapshot else ''}"
        )
        data = hub.export_dataset(params.dataset_name, params.dataset_version, work / "data", params.snapshot)
        reporter.log(f"dataset {data.ref} ({data.fingerprint[:12]}): {data.counts}")
        if not data.counts.get("test"):
            raise DatasetError(f"dataset {data.ref} has no test split: the gate needs one; add samples")
        field = hub.export_field(params.field, work / "field") if params.field else None
        if field is not None and (field.name, field.version) == (data.name, data.version):
            field = None  # the same version: its test split is judged already
        current = hub.current_model(params.model_name, work / "current")
        parent = None if current is None else current.version
        version = hub.reserve(params.model_name, parent, data, trigger, job_id)
        reporter.log(
            f"candidate {params.model_name}@{version}"
            + (f" from {params.model_name}@{parent}" if parent else " (no current model: judged on its own)")
        )
        try:
            return _build(hub, params, steps, work, data, field, current, version, signer, rules)
        except BaseException as exc:
            hub.complete(
                params.model_name,
                version,
                status="refused",
                bundle=None,
                checkpoint=None,
                metrics={},
                gate={"passed": False, "reasons": [f"the job failed before the gate decided: {exc}"]},
                gate_files=[],
                counter=None,
                key_id=None,
            )
            raise


def _build(
    hub: RetrainHub,
    params: RetrainParams,
    steps: _Steps,
    work: Path,
    data: DatasetRef,
    field: DatasetRef | None,
    current: CurrentModel | None,
    version: int,
    signer: Any,
    rules: GateRules,
) -> dict[str, Any]:
    from edgeloop.retrain.gate import run_gate
    from edgeloop.retrain.report import write_report
    from edgeloop.retrain.training import train

    started = time.perf_counter()
    steps.begin(
        "train", f"training on {data.ref} ({params.train.imgsz} px, budget {params.train.time_s or '-'} s)"
    )
    run, init = train(params.train, data.path, work / "run", current, steps.within, steps.reporter.log)
    train_s = time.perf_counter() - started

    steps.begin("export", "exporting the candidate bundle")
    bundle = _export(run, work / "bundle", params.model_name, version, data, current)

    steps.begin(
        "gate", "gate: candidate vs current on the test split" + (f" and {field.ref}" if field else "")
    )
    report = run_gate(
        bundle,
        None if current is None else current.bundle,
        data.path / "test",
        None if field is None else field.path / "test",
        rules,
    )
    files = list(write_report(report, work / "gate"))
    verdict = report.as_dict()
    for reason in report.reasons:
        steps.reporter.log(f"gate: {reason}")

    steps.begin(
        "store", "gate passed: signing and publishing" if report.passed else "gate refused the candidate"
    )
    counter = key_id = None
    if report.passed:
        from edgeloop.signing import next_counter, sign_bundle

        counter = next_counter(_keys(hub))
        sign_bundle(bundle, signer, counter)
        key_id = signer.key_id
    from edgeloop.bundle import read_manifest
    from edgeloop.train.checkpoint import best_or_last

    metrics = {k: float(v) for k, v in read_manifest(bundle).metrics.items()}
    stored = hub.complete(
        params.model_name,
        version,
        status="published" if report.passed else "refused",
        bundle=bundle,
        checkpoint=best_or_last(run),
        metrics=metrics,
        gate=verdict,
        gate_files=files,
        counter=counter,
        key_id=key_id,
    )
    steps.reporter.progress(1.0)
    steps.reporter.log(f"{params.model_name}@{version}: {stored['status']}")
    return {
        "model": params.model_name,
        "version": version,
        "status": stored["status"],
        "passed": bool(report.passed),
        "reasons": list(report.reasons),
        "counter": counter,
        "key_id": key_id,
        "dataset": data.ref,
        "field": None if field is None else field.ref,
        "parent_version": None if current is None else current.version,
        "init": init,
        "metrics": metrics,
        "train_s": round(train_s, 1),
    }


def _keys(hub: RetrainHub) -> Path:
    assert hub.keys_dir is not None
    return hub.keys_dir


def _export(
    run: Path, out: Path, name: str, version: int, data: DatasetRef, current: CurrentModel | None
) -> Path:
    """The candidate bundle, with the registry's version and its lineage in the manifest."""
    from edgeloop.bundle import read_manifest, write_manifest
    from edgeloop.export.onnx import export_run

    export_run(run, out, name=name)
    manifest = read_manifest(out)
    provenance = manifest.provenance.model_copy(
        update={
            "dataset_fingerprint": data.fingerprint,
            "dataset": data.ref,
            "parent_version": None if current is None else str(current.version),
        }
    )
    write_manifest(out, manifest.model_copy(update={"version": str(version), "provenance": provenance}))
    return out
