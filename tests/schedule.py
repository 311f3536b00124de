"""The order test modules are handed to the xdist workers: the slowest first.

`make test` runs `pytest -n 2 --dist loadfile`: each module goes whole to one worker, the next
module to whichever worker runs short of work. xdist's own order (most tests first) leaves the
slow modules of one or two tests (end-to-end jobs, fault injection, training runs) to the end, where
one worker can be left with a minute or two of them while the other has nothing to do. Longest
first, the run ends on short modules. The seconds are a module's total (setup included) on the
2-core CI machine with two workers, from its `--durations` report; modules not listed count
``PER_TEST_S`` per test (tests/test_lint.py too: `make test` fills .mypy_cache beforehand, and
its mypy run takes seconds, not 80-90). pyproject.toml turns xdist's reordering off
(`--no-loadscope-reorder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

PER_TEST_S = 0.5

SLOW_MODULES: dict[str, float] = {
    "tests/hub/test_jobs_e2e.py": 120,
    "tests/train/test_train_cli.py": 110,
    "tests/retrain/test_gate.py": 100,
    "tests/train/test_ddp.py": 90,
    "tests/hub/test_loop_faults.py": 65,
    "tests/ota/test_end_to_end.py": 35,
    "tests/deploy/test_install.py": 60,
    "tests/serve/test_fuzz.py": 60,
    "tests/train/test_run_folder.py": 60,
    "tests/cli/test_cli.py": 45,
    "tests/train/test_finetune_cli.py": 40,
    "tests/stream/test_run_capture.py": 35,
    "tests/hub/test_devices.py": 30,
    "tests/hub/test_labelstudio_live.py": 25,
    "tests/stream/test_run_sync.py": 25,
    "tests/improve/test_sync_faults.py": 20,
    "tests/convert/test_tf_hostile.py": 30,
    "tests/convert/test_tflite.py": 25,
    "tests/convert/test_tensorflow.py": 20,
    "tests/convert/test_pytorch.py": 25,
    "tests/convert/test_darknet_zoo.py": 20,
    "tests/convert/test_caffe.py": 18,
    "tests/convert/test_caffe_hostile.py": 16,
    "tests/convert/test_darknet_hostile.py": 15,
}

T = TypeVar("T")


def slowest_modules_first(nodeids: Sequence[str], items: Sequence[T]) -> list[T]:
    """``items`` (with their ``nodeids``) regrouped by module, the slowest module first; the order
    inside a module, and between modules of equal weight, is kept."""
    modules: dict[str, list[T]] = {}
    for nodeid, item in zip(nodeids, items, strict=True):
        modules.setdefault(nodeid.split("::", 1)[0], []).append(item)

    def weight(module: str) -> float:
        return SLOW_MODULES.get(module, PER_TEST_S * len(modules[module]))

    ordered = sorted(modules, key=weight, reverse=True)  # stable: ties keep the collection order
    return [item for module in ordered for item in modules[module]]
