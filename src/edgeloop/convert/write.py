"""The shared last step of every import: write the bundle, check it against its source, add samples."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from edgeloop.backends import parse_backend_config
from edgeloop.bundle import Bundle, Manifest, Provenance, Variant, load_bundle, sha256_file, write_manifest
from edgeloop.convert.base import Converted, ConvertOptions, max_abs_diff
from edgeloop.convert.samples import sample_images
from edgeloop.errors import BundleError, ModelImportError
from edgeloop.predictor import Predictor
from edgeloop.samples import add_samples


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse to write into a non-empty folder unless forced.

    Raises:
        BundleError: ``out`` exists and is not an empty folder.
    """
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not force)):
        raise BundleError(f"{out}: folder is not empty; choose a new --out or pass --force")


def _name(options: ConvertOptions, converted: Converted) -> str:
    source = converted.source_files[0] if converted.source_files else None
    stem = "model" if source is None else source.stem
    if source is not None and source.name == "saved_model.pb":  # a TensorFlow SavedModel: its folder
        stem = source.parent.name
    return options.name or re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-._") or "model"


def _manifest(converted: Converted, options: ConvertOptions, out: Path) -> Manifest:
    variant_path = out / converted.bundle_file
    extra = {name: sha256_file(out / name) for name in converted.extra_files}
    source = converted.source_files[0] if converted.source_files else converted.model_file
    provenance = Provenance(
        source=source.name,
        source_sha256=sha256_file(source) if source.is_file() else None,
        source_framework=converted.framework,
        source_files={p.name: sha256_file(p) for p in converted.source_files if p.is_file()},
    )
    return Manifest(
        name=_name(options, converted),
        task=converted.task,
        family=converted.family,
        input=converted.input,
        names=converted.names,
        conf=converted.conf if converted.conf is not None else options.conf,
        iou=converted.iou if converted.iou is not None else options.iou,
        head=converted.head,
        variants=[
            Variant(
                file=converted.bundle_file,
                precision=converted.precision,
                backends=[converted.backend],
                sha256=sha256_file(variant_path),
                size_bytes=variant_path.stat().st_size,
                extra_files=extra,
            )
        ],
        provenance=provenance,
    )


def _check(predictor: Predictor, converted: Converted, images: list[Path]) -> dict[str, object]:
    """Run the bundle and the source framework on the same prepared tensors; the largest difference.

    Raises:
        ModelImportError: the outputs differ by more than the converter's tolerance.
    """
    if converted.reference is None:
        why = f"nothing independent of the converter runs {converted.framework} here"
        return {"checked": False, "why": why}
    worst = 0.0
    for image in images:
        tensor = predictor.prepare(predictor.load_image(image)).tensor
        ours = predictor.infer(tensor)
        try:
            worst = max(worst, max_abs_diff(ours, list(converted.reference(tensor))))
        except ValueError as exc:
            raise ModelImportError(
                f"the converted model's outputs do not line up with {converted.reference_name}'s: {exc}"
            ) from None
    if worst > converted.tolerance:
        raise ModelImportError(
            f"the converted model differs from {converted.reference_name} by up to {worst:.3g} on "
            f"{len(images)} golden samples (more than {converted.tolerance:g}): the conversion is wrong for "
            "this model; please report it (or pass --skip-check to keep it unchecked)"
        )
    return {
        "checked": True,
        "reference": converted.reference_name,
        "samples": len(images),
        "max_abs_diff": worst,
        "tolerance": converted.tolerance,
    }


def write_bundle(converted: Converted, out: Path, options: ConvertOptions, work: Path) -> Bundle:
    """Write ``converted`` as a bundle at ``out``, check it against its source, store golden samples.

    ``work`` is a scratch folder (synthetic sample images are made there).

    Nothing is left at ``out`` when any step fails.

    Raises:
        ModelImportError: the check failed.
        BundleError: ``out`` is not empty.
    """
    check_out_dir(out, options.force)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(converted.model_file, out / converted.bundle_file)
        for name, path in converted.extra_files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out / name)
        manifest = _manifest(converted, options, out)
        write_manifest(out, manifest)
        bundle = load_bundle(out)
        images = sample_images(options.samples, options.num_samples, converted.input.size_hw, work)
        with Predictor(bundle, parse_backend_config(converted.backend)) as predictor:
            check = (
                _check(predictor, converted, images)
                if options.check
                else {"checked": False, "why": "--skip-check"}
            )
            if converted.task != "raw":
                bundle = add_samples(bundle, images, predictor)
        manifest = bundle.manifest.model_copy(deep=True)
        manifest.provenance = Provenance.model_validate(
            {**manifest.provenance.model_dump(), "source_check": check, "notes": converted.notes}
        )
        write_manifest(out, manifest)
        return load_bundle(out)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
