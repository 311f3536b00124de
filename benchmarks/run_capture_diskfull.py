#!/usr/bin/env python
"""`edgeloop run --capture` with its spool on a full disk, against the spool on a roomy one.

Mounts a size-capped filesystem (as root: ext4 on a loop device, else tmpfs), fills it
with a filler file so that the spool opens but its first few images take the rest, then
runs the real `edgeloop run --capture` on a 720p video with a policy that keeps every
frame (so capture keeps trying to write), in interleaved rounds against the same command
with the spool on an ordinary folder. After each run the spool is checked: integrity,
every held file's sha256, no temp or orphan files, counters equal to the rows.

Target: pipeline frames/s on the full disk >= 0.90x the roomy run; 0 partial files.

    sudo python benchmarks/run_capture_diskfull.py [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.improve.spool import Spool
from edgeloop.testing.capped_fs import capped_filesystem
from edgeloop.testing.onnx_models import random_yolo
from stream_throughput import make_video, run_fps

# Every frame is worth keeping, and no free-space reserve: the kernel's ENOSPC is what stops writes.
POLICY = {"samplers": [{"type": "random", "min_score": 0.0}], "budget": {"min_free_bytes": 0}, "seed": 0}


def check_spool(folder: Path) -> dict[str, int]:
    """Reopen the spool (reconciling it) and count what a crash-free run must leave at 0."""
    temps = [p for p in folder.rglob("*") if p.is_file() and ".tmp" in p.name]
    with Spool(folder) as spool:
        bad = spool.verify()
        counters = spool.counters()
    return {"bad_files": len(bad), "temp_files": len(temps), **counters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = random_yolo(work / "m.onnx", imgsz=args.imgsz)
        bundle = work / "bundle"
        import_onnx(model, bundle, ImportOptions(imgsz_hw=(args.imgsz, args.imgsz)))
        video = make_video(work / "720p.mp4", args.seconds)
        policy = work / "policy.json"
        policy.write_text(json.dumps(POLICY))
        fps: dict[str, list[float]] = {"roomy": [], "full": []}
        checks: list[dict[str, int]] = []
        with capped_filesystem(work / "capped", 32 * 1024**2) as capped:
            for r in range(args.rounds):
                for arm in ("roomy", "full") if r % 2 == 0 else ("full", "roomy"):
                    root = capped.path if arm == "full" else work
                    spool = Path(tempfile.mkdtemp(dir=root, prefix="spool-"))
                    if arm == "full":
                        capped.fill(leave_bytes=400_000)
                    pipeline_fps, _, _, _ = run_fps(bundle, video, work / "run.jsonl", 2, policy, spool)
                    fps[arm].append(pipeline_fps)
                    capped.release()
                    check = check_spool(spool)
                    checks.append({"full": int(arm == "full"), **check})
                    print(f"round {r + 1} {arm}: {pipeline_fps:.1f} fps {json.dumps(check)}", file=sys.stderr)
        med = {k: statistics.median(v) for k, v in fps.items()}
        print(
            json.dumps(
                {
                    "filesystem": capped.kind,
                    "fps_median": {k: round(v, 2) for k, v in med.items()},
                    "full_vs_roomy": round(med["full"] / med["roomy"], 3),
                    "target": 0.9,
                    "bad_files": sum(c["bad_files"] for c in checks),
                    "temp_files": sum(c["temp_files"] for c in checks),
                    "full_runs": [
                        {k: c.get(k, 0) for k in ("offered", "kept", "dropped:disk_full", "dropped:io_error")}
                        for c in checks
                        if c["full"]
                    ],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
