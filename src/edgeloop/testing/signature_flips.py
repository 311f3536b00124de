"""Flip single bits across a signed bundle and count the flips verification accepts (must be 0).

Used by ``tests/signing/test_flips.py`` and ``benchmarks/signature_flips.py``.
Each flip picks one of the bundle's files uniformly (``bundle.json``,
``bundle.sig``, every model, extra and sample file) and then one bit of it
uniformly, so the small manifest and signature get as many flips as the
model; the file is restored before the next flip.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeloop.bundle import Variant, load_bundle, sha256_file, write_manifest
from edgeloop.errors import BundleError
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.samples import add_samples
from edgeloop.signing import Keyring, generate_key, load_signer, next_counter, sign_bundle, verify_bundle
from edgeloop.testing.onnx_models import colour_detector


@dataclass
class FlipOutcome:
    """What a series of flips did."""

    tried: int = 0
    rejected: int = 0
    accepted: list[tuple[str, int]] = field(default_factory=list)  # (file, bit) verification let through
    by_file: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def bundle_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _write_byte(path: Path, offset: int, value: int) -> None:
    # In place: rewriting the whole file (O_TRUNC) makes ext4 flush it on close, ~100x slower.
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes([value]))


def _try(root: Path, keyring: Keyring, path: Path, bit: int, outcome: FlipOutcome) -> None:
    offset = bit // 8
    with open(path, "rb") as fh:
        fh.seek(offset)
        original = fh.read(1)[0]
    _write_byte(path, offset, original ^ (1 << (bit % 8)))
    name = path.relative_to(root).as_posix()
    outcome.tried += 1
    outcome.by_file[name] += 1
    try:
        verify_bundle(root, keyring)
    except BundleError as exc:
        outcome.rejected += 1
        outcome.by_error[type(exc).__name__] += 1
    else:
        outcome.accepted.append((name, bit))
    finally:
        _write_byte(path, offset, original)


def random_flips(root: Path, keyring: Keyring, count: int, seed: int = 0) -> FlipOutcome:
    """``count`` single-bit flips, each in a uniformly chosen file at a uniformly chosen bit."""
    rng = random.Random(seed)
    files = bundle_files(root)
    sizes = {path: path.stat().st_size for path in files}
    outcome = FlipOutcome()
    start = time.perf_counter()
    for _ in range(count):
        path = rng.choice(files)
        _try(root, keyring, path, rng.randrange(sizes[path] * 8), outcome)
    outcome.seconds = time.perf_counter() - start
    return outcome


def every_flip(root: Path, keyring: Keyring, name: str) -> FlipOutcome:
    """Flip every bit of one file of the bundle, one at a time."""
    path = root / name
    outcome = FlipOutcome()
    start = time.perf_counter()
    for bit in range(path.stat().st_size * 8):
        _try(root, keyring, path, bit, outcome)
    outcome.seconds = time.perf_counter() - start
    return outcome


def signed_bundle(folder: Path) -> tuple[Path, Path]:
    """A real signed bundle in ``folder/bundle`` and its key folder ``folder/keys``.

    The colour detector imported from ONNX, non-ASCII class names, a golden
    sample, and a second (OpenVINO-style) variant with an extra weights file,
    so every kind of listed file is there to flip.
    """
    model = colour_detector(folder / "colour.onnx", imgsz=(320, 320), stride=32)
    bundle = import_onnx(model, folder / "bundle")
    scene = np.full((240, 320, 3), 128, np.uint8)
    scene[32:96, 32:96] = (0, 0, 255)
    cv2.imwrite(str(folder / "scene.png"), scene)
    with Predictor(bundle) as predictor:
        bundle = add_samples(bundle, [folder / "scene.png"], predictor)
    root = bundle.root
    (root / "openvino").mkdir()
    shutil.copyfile(model, root / "openvino" / "model.xml")  # stands in for IR: only its bytes matter here
    (root / "openvino" / "model.bin").write_bytes(np.arange(4096, dtype=np.float32).tobytes())
    ir = Variant(
        file="openvino/model.xml",
        backends=["openvino"],
        sha256=sha256_file(root / "openvino" / "model.xml"),
        size_bytes=(root / "openvino" / "model.xml").stat().st_size,
        extra_files={"openvino/model.bin": sha256_file(root / "openvino" / "model.bin")},
    )
    manifest = bundle.manifest.model_copy(
        update={"variants": [*bundle.manifest.variants, ir], "names": ["red", "grün", "青"]}
    )
    write_manifest(root, manifest)
    load_bundle(root)
    keys = folder / "keys"
    generate_key(keys, note="flip test")
    sign_bundle(root, load_signer(keys), next_counter(keys))
    return root, keys
