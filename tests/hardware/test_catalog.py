"""The packaged device catalog: required devices, a source for every number, strict schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeloop.errors import ConfigError
from edgeloop.hardware.catalog import CATALOG_PATH, load_catalog

REQUIRED = {
    "raspberry-pi-4",
    "raspberry-pi-5",
    "raspberry-pi-5-hailo-8l",
    "jetson-nano",
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-super",
    "jetson-orin-nx-16gb",
    "jetson-agx-orin-64gb",
    "intel-n100",
    "intel-nuc-i5",
    "luxonis-oak-d",
    "luxonis-oak4-d",
    "coral-usb",
    "intel-ncs2",
    "rk3588",
    "x86-server-cpu",
}


def test_required_devices_are_catalogued() -> None:
    slugs = {d.slug for d in load_catalog().devices}
    assert slugs >= REQUIRED


def test_every_number_has_a_source() -> None:
    for device in load_catalog().devices:
        for key in ("peak_gops", "power_w", "price_usd", "bandwidth_gbs", "memory_gb"):
            if getattr(device, key) not in (None, {}, 0):
                assert device.sources.get(key), f"{device.slug}.{key} has no source"
        if device.cpu is not None:
            assert device.sources.get("cpu"), f"{device.slug}.cpu has no source"
        for target in device.targets:
            assert device.peak(target.unit, target.precisions[0]) is not None or len(target.precisions) > 1


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="raspberry-pi-5"):
        load_catalog().device("raspberry-pi-9")


def test_a_number_without_a_source_is_refused(tmp_path: Path) -> None:
    data = json.loads(CATALOG_PATH.read_text())
    del data["devices"][0]["sources"]["price_usd"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="price_usd"):
        load_catalog(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    data = json.loads(CATALOG_PATH.read_text())
    data["devices"][0]["tops"] = 5
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="tops"):
        load_catalog(path)
