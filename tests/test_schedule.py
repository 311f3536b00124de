"""The module order of tests/schedule.py: slowest first, each module whole, no stale names."""

from pathlib import Path

from tests.schedule import SLOW_MODULES, slowest_modules_first

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_module_exists() -> None:
    assert [m for m in SLOW_MODULES if not (ROOT / m).is_file()] == []


def test_slowest_module_first_then_by_test_count_each_module_whole() -> None:
    slow = next(iter(SLOW_MODULES))
    ids = ["tests/b.py::x", "tests/a.py::x", "tests/c.py::x[0]", "tests/a.py::y", f"{slow}::z"]
    ids += ["tests/c.py::x[1]", "tests/c.py::x[2]"]
    order = [ids[i] for i in slowest_modules_first(ids, list(range(len(ids))))]
    assert order == [
        f"{slow}::z",
        "tests/c.py::x[0]",
        "tests/c.py::x[1]",
        "tests/c.py::x[2]",
        "tests/a.py::x",
        "tests/a.py::y",
        "tests/b.py::x",
    ]
