"""`edgeloop hub dataset create | ls | show | export` on a hub data folder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgeloop.cli.main import app
from edgeloop.data.check import check_dataset
from edgeloop.data.splits import load_split
from edgeloop.hub.blobs import open_blobs
from edgeloop.hub.db import create_engine
from tests.hub.sample_rows import add_sample

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["hub", "dataset", *args])
    return result.exit_code, result.stdout, result.stderr


def test_dataset_commands_on_a_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    assert _run("ls", "--data", str(data))[0] == 0  # creates the empty hub
    engine = create_engine(f"sqlite:///{data / 'hub.db'}")
    blobs = open_blobs(str(data / "blobs"))
    try:
        for i in range(30):
            add_sample(engine, i, boxes=[(20.0, 15.0, 10.0, 8.0, "car" if i % 2 else "person")], blobs=blobs)
        add_sample(engine, 99, status="pending", blobs=blobs)
    finally:
        engine.dispose()
        blobs.close()
    d = ("--data", str(data))

    code, out, err = _run("create", "street", "--note", "first cut", *d)
    assert code == 0, err
    assert "created street@1" in err and out.startswith("street@1")
    code, out, err = _run("create", "street", *d)
    assert code == 0 and "unchanged" in err and "no new version" in err
    code, out, err = _run("create", "street", "--include-pending", "--json", *d)
    assert code == 0, err
    assert json.loads(out)["version"] == 2 and json.loads(out)["images"] == 31
    code, out, err = _run(
        "create", "cars", "--class", "car", "--train", "0.5", "--val", "0.5", "--test", "0", *d
    )
    assert code == 0, err

    code, out, _ = _run("ls", *d)
    assert [line.split()[0] for line in out.splitlines()] == ["cars@1", "street@1", "street@2"]
    code, out, _ = _run("show", "street@1", *d)
    assert code == 0 and "first cut" in out and "30 by a person, 0 device predictions" in out
    code, out, _ = _run("show", "street", "--json", *d)
    manifest = json.loads(out)["manifest"]
    assert json.loads(out)["version"] == 2 and len(manifest["items"]) == 31

    code, out, err = _run("export", "street@1", "--format", "coco", "--out", str(tmp_path / "coco"), *d)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "coco") and "exported street@1 as coco" in err
    train = load_split(tmp_path / "coco", "train").dataset
    assert len(train) > 10 and train.names == ("car", "person")
    assert check_dataset(tmp_path / "coco" / "train").clean

    code, _, err = _run("show", "street@9", *d)
    assert code == 1 and "versions are 1..2" in err
    code, _, err = _run("create", "x", "--train", "0.9", *d)
    assert code == 1 and "sum to 1" in err
    code, _, err = _run("export", "street", "--format", "cvat", "--out", str(tmp_path / "c"), *d)
    assert code == 1 and "yolo, coco or voc" in err
