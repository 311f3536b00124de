"""Acceptance: 1,000 random single-bit flips across a signed bundle are all rejected.

The full count runs here (a few seconds); ``benchmarks/signature_flips.py``
runs any count and can flip every bit of the manifest.
"""

from __future__ import annotations

from edgeloop.signing import verify_bundle
from edgeloop.testing.signature_flips import bundle_files, every_flip, random_flips
from tests.signing.conftest import Signed


def test_1000_random_bit_flips_are_all_rejected(signed: Signed) -> None:
    ring = signed.ring()
    outcome = random_flips(signed.root, ring, count=1000, seed=15)
    print(
        f"flips tried {outcome.tried}, rejected {outcome.rejected}, accepted {len(outcome.accepted)} "
        f"in {outcome.seconds:.1f} s; by file {dict(outcome.by_file)}; by error {dict(outcome.by_error)}"
    )
    assert outcome.tried == 1000 and outcome.rejected == 1000, outcome.accepted[:10]
    names = {p.relative_to(signed.root).as_posix() for p in bundle_files(signed.root)}
    assert (
        set(outcome.by_file)
        == names
        == {
            "bundle.json",
            "bundle.sig",
            "model.onnx",
            "openvino/model.xml",
            "openvino/model.bin",
            "samples/scene.png",
        }
    )
    assert min(outcome.by_file.values()) > 100  # every file got its share
    assert {"Tampered", "BadSignature"} <= set(outcome.by_error)
    assert verify_bundle(signed.root, ring).counter == 1  # every flip was undone


def test_every_bit_of_the_signature_file_matters(signed: Signed) -> None:
    ring = signed.ring()
    outcome = every_flip(signed.root, ring, "bundle.sig")
    assert outcome.tried == (signed.root / "bundle.sig").stat().st_size * 8
    assert outcome.rejected == outcome.tried, outcome.accepted[:10]
    assert {"BadSignature", "UnknownKey"} <= set(outcome.by_error)
    verify_bundle(signed.root, ring)
