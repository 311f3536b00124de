"""Class filters by name and id, checked against the model's classes."""

from __future__ import annotations

import pytest

from edgeloop.classes import describe_classes, parse_classes
from edgeloop.errors import ConfigError

NAMES = ("red", "green", "blue")


def test_names_ids_mixed_and_repeats() -> None:
    assert parse_classes("red", NAMES) == (0,)
    assert parse_classes("2, green,0", NAMES) == (2, 1, 0)
    assert parse_classes(["blue", "2", "blue"], NAMES) == (2,)


def test_a_name_that_looks_like_an_id_is_the_name() -> None:
    assert parse_classes("7", ("cat", "7")) == (1,)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("circle", r"--classes: unknown class 'circle'; this model's classes are 0 red, 1 green, 2 blue"),
        ("7", r"class id 7 is out of range: this model has 3 classes \(ids 0\.\.2\)"),
        ("-1", r"class id -1 is out of range"),
        ("red,Red", r"unknown class 'Red'"),
        (" , ", r"--classes is empty: give class names or ids, e.g. --classes red,1"),
    ],
)
def test_errors_list_the_valid_classes(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_classes(spec, NAMES)


def test_long_name_lists_are_cut() -> None:
    names = [f"c{i}" for i in range(80)]
    text = describe_classes(names)
    assert text.startswith("0 c0, 1 c1") and text.endswith(
        "... and 50 more (edgeloop bundle info lists them all)"
    )
