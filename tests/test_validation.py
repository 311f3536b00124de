"""Validation errors name the flag or YAML key, what was given and what is allowed, in one line."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Literal

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.bundle import Bundle
from edgeloop.cli.common import handle_errors
from edgeloop.validation import format_validation_error
from tests.conftest import run_cli


class Colour(Enum):
    RED = "red"
    GREEN = "green"


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=1)
    weight_g: float = 1.0


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int = Field(default=0, ge=0, le=64)
    colour: Colour = Colour.RED
    parts: list[Part] = Field(default_factory=list)
    corners: list[int] = Field(default_factory=lambda: [0, 0, 0], min_length=3)


def _error(**values: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(values)
    return caught.value


def test_flags_are_named_with_what_is_allowed() -> None:
    assert format_validation_error(_error(device="gpu"), "flag") == "--device: 'gpu' is not one of cpu, cuda"
    assert format_validation_error(_error(threads=-2), "flag") == "--threads: must be >= 0 (got -2)"
    assert format_validation_error(_error(threads=99), "flag") == "--threads: must be <= 64 (got 99)"
    assert (
        format_validation_error(_error(threads="x"), "flag") == "--threads: expects a whole number (got 'x')"
    )
    assert (
        format_validation_error(_error(colour="blue"), "flag") == "--colour: 'blue' is not one of red, green"
    )
    renamed = format_validation_error(_error(threads=-1), "flag", flags={"threads": "--workers"})
    assert renamed.startswith("--workers: ")


def test_keys_are_dotted_paths_and_unknown_keys_list_the_known_ones() -> None:
    exc = _error(parts=[{"size": 0, "wieght_g": 2}], corners=[1])
    text = format_validation_error(exc, "key", prefix="parts.yaml", model=Settings)
    assert text == (
        "parts.yaml: key 'parts[0].size': must be >= 1 (got 0); "
        "key 'parts[0].wieght_g': unknown key; keys here: size, weight_g; "
        "key 'corners': needs at least 3 items (got 1)"
    )
    top = format_validation_error(_error(devise="cpu"), "key", model=Settings)
    assert top == "key 'devise': unknown key; keys here: device, threads, colour, parts, corners"
    assert "\n" not in text and "pydantic" not in text


def test_zones_yaml_with_a_misspelt_key(yolo_bundle: Bundle, scene_jpeg: Path, tmp_path: Path) -> None:
    zones = tmp_path / "zones.yaml"
    zones.write_text("zones: [{name: a, polygon: [[0, 0], [9, 0], [9, 9]]}]\ntracker: {activation: 0.3}\n")
    result = run_cli("run", str(yolo_bundle.root), "--source", str(scene_jpeg), "--zones", str(zones))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "key 'tracker.activation': unknown key; keys here: activation_threshold" in lines[0]
    assert "errors.pydantic.dev" not in result.stderr


def test_bad_flag_values_name_the_choices(yolo_bundle: Bundle, scene_jpeg: Path, tmp_path: Path) -> None:
    result = run_cli("predict", str(yolo_bundle.root), str(scene_jpeg), "--device", "gpu")
    assert result.returncode == 1
    assert "'device': 'gpu' is not one of cpu, cuda, tensorrt, openvino, coreml, auto" in result.stderr
    assert "errors.pydantic.dev" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    optimize = run_cli(
        "optimize", str(yolo_bundle.root), "--int8", "--method", "bogus", "--out", str(tmp_path / "o")
    )
    assert optimize.returncode == 1
    assert "--method: 'bogus' is not one of minmax, entropy, percentile" in optimize.stderr


def test_catalog_and_measurement_files(yolo_bundle: Bundle, tmp_path: Path) -> None:
    from edgeloop.hardware.catalog import CATALOG_PATH
    from edgeloop.hardware.predict import MEASUREMENTS_PATH

    catalog = json.loads(CATALOG_PATH.read_text())
    catalog["devices"][0]["price_usd"] = -5
    bad_catalog = tmp_path / "catalog.json"
    bad_catalog.write_text(json.dumps(catalog))
    result = run_cli("advise", str(yolo_bundle.root), "--all", "--catalog", str(bad_catalog))
    assert result.returncode == 1
    assert "key 'devices[0].price_usd': must be >= 0 (got -5)" in result.stderr
    measured = json.loads(MEASUREMENTS_PATH.read_text())
    measured["measurements"][0]["unit"] = "tpu"
    bad_measured = tmp_path / "measured.json"
    bad_measured.write_text(json.dumps(measured))
    result = run_cli("advise", str(yolo_bundle.root), "--all", "--measurements", str(bad_measured))
    assert result.returncode == 1
    assert "key 'measurements[0].unit': 'tpu' is not one of cpu, gpu, npu" in result.stderr
    assert "errors.pydantic.dev" not in result.stderr


def test_commands_never_print_a_pydantic_dump(capsys: pytest.CaptureFixture[str]) -> None:
    """A settings model validated past the boundaries still ends as one error line."""

    @handle_errors
    def command() -> None:
        Settings(threads=-1)

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 1
    err = capsys.readouterr().err
    assert "invalid settings: key 'threads': must be >= 0 (got -1)" in err and "pydantic" not in err
