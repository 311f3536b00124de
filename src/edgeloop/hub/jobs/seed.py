"""``edgeloop hub model add``: a trained run (or a bundle) becomes a published, signed version.

The first version of a model has no gate to pass (there is nothing to compare it with): it is
what the operator says is deployed today. Retrain jobs start from it and are gated against it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from edgeloop.bundle import read_manifest, write_manifest
from edgeloop.errors import ConfigError
from edgeloop.hub import datasets, registry
from edgeloop.hub.blobs import BlobStore

SEEDED = "added by hand (edgeloop hub model add)"


def _from_run(run: Path, out: Path, name: str) -> Path:
    from edgeloop.export.onnx import export_run
    from edgeloop.train.checkpoint import best_or_last

    export_run(run, out, name=name)
    return best_or_last(run)


def add_model(
    engine: sa.Engine,
    blobs: BlobStore,
    source: Path,
    name: str,
    keys_dir: Path,
    dataset: str | None = None,
    checkpoint: Path | None = None,
) -> registry.ModelVersion:
    """Register ``source`` (a run folder from ``edgeloop train``, or a bundle folder) as the next
    published version of ``name``, signed with the active key of ``keys_dir``.

    Raises:
        ConfigError: ``source`` is neither a run nor a bundle; bad dataset reference.
        TrainError, BundleError: the run cannot be exported, or the bundle is invalid.
    """
    from edgeloop.signing import load_signer, next_counter, sign_bundle

    registry.check_name(name)
    signer = load_signer(keys_dir)
    lineage = None
    if dataset is not None:
        ds_name, ds_version = datasets.parse_ref(dataset)
        shown = datasets.show(engine, ds_name, ds_version)
        lineage = (shown.name, shown.version, shown.fingerprint)
    with tempfile.TemporaryDirectory(prefix="edgeloop-model-add-") as tmp:
        bundle = Path(tmp) / "bundle"
        if (source / "weights").is_dir():
            checkpoint = checkpoint or _from_run(source, bundle, name)
        elif (source / "bundle.json").is_file():
            shutil.copytree(source, bundle)
            (bundle / "bundle.sig").unlink(missing_ok=True)  # signed again by this hub's key
        else:
            raise ConfigError(f"{source}: neither a run folder (weights/) nor a bundle folder (bundle.json)")
        version = registry.reserve(engine, name, dataset=lineage, trigger=SEEDED)
        try:
            manifest = read_manifest(bundle)
            write_manifest(bundle, manifest.model_copy(update={"name": name, "version": str(version)}))
            counter = next_counter(keys_dir)
            sign_bundle(bundle, signer, counter)
            metrics = {k: float(v) for k, v in read_manifest(bundle).metrics.items()}
            gate = {"passed": True, "reasons": [], "note": "first version, added by hand: no gate"}
            return registry.complete(
                engine,
                blobs,
                name,
                version,
                status="published",
                bundle_dir=bundle,
                checkpoint=checkpoint,
                metrics=metrics,
                gate=gate,
                counter=counter,
                key_id=signer.key_id,
            )
        except BaseException:
            registry.complete(
                engine,
                blobs,
                name,
                version,
                status="refused",
                bundle_dir=None,
                checkpoint=None,
                metrics={},
                gate={"passed": False, "reasons": ["edgeloop hub model add failed"]},
            )
            raise
