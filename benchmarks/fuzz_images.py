#!/usr/bin/env python
"""Fuzz the image header parser and decoder with generated and mutated files.

Valid JPEG, PNG, BMP, WebP and GIF files (16 variants) get bit flips, truncations,
huge or zero declared sizes, spliced byte ranges, another format's data behind a
broken header, or are replaced by random bytes; every input must decode to the
size its header declares within the pixel cap, or raise ImageError. Prints the
counts (crashed must be 0) and the first crashes, each reproducible from its
seed and index.

    python benchmarks/fuzz_images.py [--count 20000] [--seed 0] [--max-pixels 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from edgeloop.testing.image_fuzz import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pixels", type=int, default=100_000)
    args = parser.parse_args()
    start = time.perf_counter()
    outcome = run(args.seed, args.count, args.max_pixels)
    elapsed_s = time.perf_counter() - start
    counts = {
        "tried": outcome.tried,
        "decoded": outcome.decoded,
        "refused": outcome.refused,
        "crashed": len(outcome.crashes),
        "seed": args.seed,
        "seconds": round(elapsed_s, 1),
    }
    print(json.dumps(counts))
    for crash in outcome.crashes[:20]:
        print("CRASH", crash)
    return 1 if outcome.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
