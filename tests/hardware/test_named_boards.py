"""Every runtime `advise` ranks for the boards the project names is deployable.

Raspberry Pi 4/5, Jetson Nano and Orin, Intel (OpenVINO), Luxonis OAK-D/OAK4, Intel
Movidius NCS2 and Coral: each of their catalogued runtimes must map to a registered
backend. Hailo (the Pi AI Kit) and RKNN boards are not named and stay undeployable. One
named pair is not deployable on purpose and says why: TensorRT on the Jetson Nano, whose
JetPack 4 stops at TensorRT 8.2 for Python 3.6 (docs/targets/jetson-nano.md).
"""

from __future__ import annotations

from edgeloop.backends import BACKENDS
from edgeloop.hardware.advise import DEVICE_LIMITS, backend_name, deployable_backend
from edgeloop.hardware.catalog import load_catalog

NAMED = (
    "raspberry-pi-4",
    "raspberry-pi-5",
    "jetson-nano",
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-super",
    "jetson-orin-nx-16gb",
    "jetson-agx-orin-64gb",
    "intel-n100",
    "intel-nuc-i5",
    "luxonis-oak-d",
    "luxonis-oak4-d",
    "intel-ncs2",
    "coral-usb",
)


def test_every_runtime_of_the_named_boards_has_a_registered_backend() -> None:
    catalog = load_catalog()
    missing = []
    for slug in NAMED:
        for target in catalog.device(slug).targets:
            backend = backend_name(target.runtime)
            if backend is None or backend not in BACKENDS:
                missing.append(f"{slug}: runtime {target.runtime} needs backend {backend!r}")
            elif deployable_backend(slug, target.runtime) is None:
                assert (slug, target.runtime) in DEVICE_LIMITS
    assert not missing, "not deployable:\n" + "\n".join(missing)


def test_the_one_named_exception_is_the_jetson_nanos_tensorrt() -> None:
    assert set(DEVICE_LIMITS) == {("jetson-nano", "tensorrt")}
    assert deployable_backend("jetson-nano", "tensorrt") is None
    assert deployable_backend("jetson-nano", "onnxruntime") == "onnxruntime"
    assert deployable_backend("jetson-orin-nano-super", "tensorrt") == "tensorrt"
