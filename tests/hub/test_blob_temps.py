"""The folder blob store removes temp files that a killed hub left, and only those.

Found by the capture -> sync -> hub fault harness: 20 kill -9 of the hub left 2
``samples/.tmp-*`` files (a put interrupted between its temp file and the rename), which
nothing ever removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgeloop.hub.blobs.folder import FolderBlobs


def test_temps_of_dead_writers_go_and_live_ones_stay(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    samples = tmp_path / "samples"
    samples.mkdir()
    killed = samples / f".tmp-{dead_pid}-0123456789abcdef"
    old_style = samples / ".tmp-0123456789abcdef"
    in_flight = samples / f".tmp-{os.getpid()}-fedcba9876543210"
    blob = samples / ("a" * 64)
    for path in (killed, old_style, in_flight, blob):
        path.write_bytes(b"x")

    store = FolderBlobs(tmp_path)

    assert store.removed_temps == 2
    assert not killed.exists() and not old_style.exists()
    assert in_flight.exists() and blob.exists()
    store.put("samples/" + "b" * 64, b"y")  # a put leaves no temp file behind
    assert sorted(p.name for p in samples.iterdir()) == sorted([in_flight.name, blob.name, "b" * 64])
