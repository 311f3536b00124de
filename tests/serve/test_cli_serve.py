"""`edgeloop serve` as users start it: a busy port and clashing bundle names are one clear error."""

from __future__ import annotations

import shutil
import signal
import socket
from pathlib import Path

import httpx
import pytest

from edgeloop.bundle import Bundle
from tests.conftest import run_cli
from tests.serve.conftest import free_port, start_server


def test_busy_port_is_one_error_before_serving_is_announced(yolo_bundle: Bundle) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", str(yolo_bundle.root), "--port", str(port))
    assert result.returncode == 1, result.stderr
    assert "serving on" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use (another edgeloop serve?); "
        "stop that process or pick a free port with --port"
    ]


def test_two_bundles_with_one_name_are_refused(yolo_bundle: Bundle, tmp_path: Path) -> None:
    copy = tmp_path / "copy-of-bundle"
    shutil.copytree(yolo_bundle.root, copy)
    result = run_cli("serve", str(yolo_bundle.root), str(copy), "--port", str(free_port()))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "serving on" not in result.stderr
    name = yolo_bundle.manifest.name
    assert (
        f"error: two bundles are named '{name}': {yolo_bundle.root} and {copy}; models are served by name"
        in result.stderr
    )
    assert 'edit "name" in its bundle.json' in result.stderr
    twice = run_cli("serve", str(yolo_bundle.root), str(yolo_bundle.root), "--port", str(free_port()))
    assert twice.returncode == 1 and f"bundle {yolo_bundle.root} is given twice" in twice.stderr


@pytest.mark.parametrize("SIG", [signal.SIGINT, signal.SIGTERM])
def test_serves_and_stops_cleanly_on_a_signal(SIG: int, yolo_bundle: Bundle, tmp_path: Path) -> None:
    srv = start_server([yolo_bundle.root], tmp_path / "log")
    assert httpx.get(f"{srv.url}/v1/models").status_code == 200
    srv.process.send_signal(SIG)
    assert srv.process.wait(10) == 0
    log = (tmp_path / "log").read_text()
    assert f"serving on {srv.url} " in log and "stopped after" in log


def test_bind_errors_name_the_flag_to_change() -> None:
    from edgeloop.errors import ConfigError
    from edgeloop.serve.listen import bind_socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is already in use.*--port"):
            bind_socket("127.0.0.1", port)
    with pytest.raises(ConfigError, match="not an address of this machine; check --host"):
        bind_socket("10.255.255.1", 0)
    sock = bind_socket("localhost", 0)
    assert sock.getsockname()[0] == "127.0.0.1", "IPv4 for host names, as uvicorn binds"
    sock.close()
