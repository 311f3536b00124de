"""Every flag of every command shows no value placeholder in --help (typer 0.29 printed `<bool>`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from edgeloop.bundle import Bundle
from edgeloop.cli.main import app
from tests.conftest import run_cli


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += _paths(sub, (*prefix, name))
    return paths


PATHS = _paths(typer.main.get_command(app))


def test_every_command_is_found() -> None:
    assert len(PATHS) > 20 and ("predict",) in PATHS and ("bundle", "verify") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "edgeloop")
def test_help_shows_no_bool_placeholder(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output


def test_predict_json_is_a_flag(yolo_bundle: Bundle, scene_jpeg: Any) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(scene_jpeg), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["predictions"]
    help_text = run_cli("predict", "--help").stdout
    assert "--json " in help_text and "<bool>" not in help_text


def test_a_value_after_a_flag_says_the_flag_takes_none(yolo_bundle: Bundle, scene_jpeg: Any) -> None:
    """`--json true` used to fail as "Path 'true' does not exist"."""
    result = run_cli("predict", str(yolo_bundle.root), str(scene_jpeg), "--json", "true")
    assert result.returncode == 2
    assert "--json is a flag and takes no value" in result.stderr
    nested = CliRunner().invoke(app, ["bundle", "verify", "x", "--help", "no"], env={"COLUMNS": "200"})
    assert "--help is a flag and takes no value" in nested.output
