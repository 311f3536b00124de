#!/usr/bin/env python
"""Flip single bits across a signed bundle and count what signature verification accepts (must be 0).

Builds a real signed bundle (the colour detector imported from ONNX, a golden
sample, an OpenVINO-style variant with a weights file, non-ASCII class names),
then flips one bit at a time in a file picked uniformly (manifest, signature,
model, weights, sample), verifies against the key ring, and restores the file.
``--every`` also flips every bit of the named files, one at a time.

    python benchmarks/signature_flips.py [--count 1000] [--seed 0] [--every bundle.sig bundle.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgeloop.signing import Keyring
from edgeloop.testing.signature_flips import FlipOutcome, every_flip, random_flips, signed_bundle


def _summary(what: str, outcome: FlipOutcome) -> dict[str, object]:
    return {
        "flips": what,
        "tried": outcome.tried,
        "rejected": outcome.rejected,
        "accepted": len(outcome.accepted),
        "seconds": round(outcome.seconds, 2),
        "ms_per_flip": round(1000 * outcome.seconds / max(outcome.tried, 1), 2),
        "by_file": dict(sorted(outcome.by_file.items())),
        "by_error": dict(sorted(outcome.by_error.items())),
        "first_accepted": outcome.accepted[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", nargs="*", default=[], help="Files to flip bit by bit, e.g. bundle.sig")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signature-flips-") as tmp:
        root, keys = signed_bundle(Path(tmp))
        ring = Keyring.load(keys / "keyring.json")
        results = [_summary(f"random (seed {args.seed})", random_flips(root, ring, args.count, args.seed))]
        results += [_summary(f"every bit of {name}", every_flip(root, ring, name)) for name in args.every]
    accepted = 0
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
        accepted += int(str(result["accepted"]))
    print(f"accepted {accepted} flipped bundles (must be 0)", file=sys.stderr)
    return 1 if accepted else 0


if __name__ == "__main__":
    sys.exit(main())
