"""The typed backend configuration: one union, built once from flags, YAML or JSON."""

from __future__ import annotations

import os

import pytest
import yaml

from edgeloop.backends import (
    BACKENDS,
    NullConfig,
    OnnxRuntimeConfig,
    OpenVinoConfig,
    TensorRtConfig,
    backend_config,
    parse_backend_config,
)
from edgeloop.backends.config import backend_names, sharing_process
from edgeloop.cli.backend_options import BACKEND_NAMES
from edgeloop.errors import ConfigError
from edgeloop.stream.pipeline import plan_workers
from tests.blocked import run_without


def test_union_and_registry_name_the_same_backends() -> None:
    assert backend_names() == BACKENDS.names() == list(BACKEND_NAMES)
    for name in backend_names():
        config = parse_backend_config(name)
        assert config.type == name and isinstance(config, BACKENDS.get(name).Config)


def test_yaml_and_json_bodies_pick_the_config_class() -> None:
    config = parse_backend_config(yaml.safe_load("type: openvino\nthreads: 2\ndevice: gpu\n"))
    assert config == OpenVinoConfig(threads=2, device="GPU")
    assert parse_backend_config({"type": "tensorrt", "precision": "int8"}) == TensorRtConfig(precision="int8")
    assert parse_backend_config(OnnxRuntimeConfig(intra_op_threads=3)) == OnnxRuntimeConfig(
        intra_op_threads=3
    )
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_backend_config(["onnxruntime"])  # type: ignore[arg-type]


def test_server_settings_hold_one_backend_config() -> None:
    from edgeloop.serve.config import ServeConfig

    assert ServeConfig().backend == OnnxRuntimeConfig()
    config = ServeConfig.model_validate({"backend": {"type": "openvino", "threads": 2}})
    assert config.backend == OpenVinoConfig(threads=2)
    with pytest.raises(ValueError, match="openvino"):
        ServeConfig.model_validate({"backend": {"type": "openvino", "intra_op_threads": 2}})


def test_threads_flag_means_each_backends_own_setting() -> None:
    assert backend_config("onnxruntime", None, 3) == OnnxRuntimeConfig(intra_op_threads=3)
    assert backend_config("openvino", "cpu", 3) == OpenVinoConfig(threads=3)
    with pytest.raises(ConfigError, match="--threads: OpenVINO sets CPU inference threads, not GPU"):
        backend_config("openvino", "gpu", 3)
    assert backend_config("null", None, 3) == NullConfig()  # runs nothing: any count is honoured
    assert backend_config("tensorrt", None, 0) == TensorRtConfig()
    with pytest.raises(ConfigError, match="--threads: backend 'tensorrt' cannot set"):
        backend_config("tensorrt", None, 2)


def test_device_flag_is_checked_against_the_backend() -> None:
    assert backend_config("onnxruntime", "cuda").device == "cuda"  # type: ignore[union-attr]
    assert backend_config("tensorrt", "1").device == 1  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"--device: .*setting 'device': 'gpu' is not one of cpu, cuda"):
        backend_config("onnxruntime", "gpu")
    with pytest.raises(ConfigError, match="--device: backend 'null' has no device"):
        backend_config("null", "cpu")


def test_capabilities_are_declared_not_guessed() -> None:
    assert TensorRtConfig().capabilities().thread_safe is False
    assert OpenVinoConfig().capabilities().thread_safe is True  # its infer serializes on a lock
    assert OpenVinoConfig().capabilities().preferred_workers == 1
    cores = os.cpu_count() or 1
    assert OnnxRuntimeConfig().capabilities().preferred_workers == (2 if cores >= 2 else 1)
    assert OnnxRuntimeConfig(device="cuda").capabilities().preferred_workers == 1


def test_plan_workers_keeps_the_benchmarked_cpu_plan() -> None:
    cores = os.cpu_count() or 1
    ort = OnnxRuntimeConfig().capabilities()
    if cores >= 2:
        assert plan_workers(0, 0, ort) == (2, max(1, cores // 2))
    assert plan_workers(1, 0, ort) == (1, 0)
    assert plan_workers(3, 5, ort) == (3, 5)
    assert plan_workers(0, 0, OnnxRuntimeConfig(device="cuda").capabilities()) == (1, 0)
    assert plan_workers(2, 0, TensorRtConfig().capabilities()) == (2, 0)  # no threads to share


def test_sharing_process_turns_spinning_off_unless_asked() -> None:
    assert sharing_process(OnnxRuntimeConfig()).allow_spinning is False  # type: ignore[union-attr]
    assert sharing_process(OnnxRuntimeConfig(allow_spinning=True)).allow_spinning is True  # type: ignore[union-attr]
    assert sharing_process(OpenVinoConfig()) == OpenVinoConfig()


def test_the_union_imports_no_runtime() -> None:
    code = (
        "import sys\nfrom edgeloop.backends import parse_backend_config\n"
        "for name in ('onnxruntime', 'openvino', 'tensorrt', 'litert', 'null'):\n"
        "    parse_backend_config(name).capabilities()\n"
        "assert not {'onnxruntime', 'openvino', 'tensorrt', 'ai_edge_litert'} & set(sys.modules), "
        "sorted(sys.modules)\n"
    )
    result = run_without(("onnxruntime", "openvino", "tensorrt", "ai_edge_litert"), code)
    assert result.returncode == 0, result.stderr
