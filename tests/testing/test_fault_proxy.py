"""FaultProxy against a small echo server: each fate does what it says, counts add up, seeds repeat."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from edgeloop.testing.fault_proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # the proxy cut this connection on purpose
            pass


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _exchange(port: int, payload: bytes, timeout_s: float = 5.0) -> tuple[bytes, str]:
    """Send ``payload``, half-close, read until EOF: (bytes echoed back, how it ended)."""
    received = b""
    try:  # a reset can come as early as connect(): the proxy may abort before connect() returns
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                received += chunk
    except TimeoutError:
        return received, "timeout"
    except OSError:  # reset, broken pipe, or not connected any more when half-closing
        return received, "reset"
    return received, "eof"


def test_pass_forwards_everything(echo_port: int) -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB both ways
    with FaultProxy(echo_port) as proxy:
        assert _exchange(proxy.port, payload) == (payload, "eof")
        assert _exchange(proxy.port, b"again") == (b"again", "eof")
        assert proxy.counts == {"pass": 2, "drop": 0, "reset": 0, "stall": 0, "mid_body": 0}


def test_drop_closes_at_once(echo_port: int) -> None:
    with FaultProxy("127.0.0.1", echo_port, drop=1.0) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            assert s.recv(10) == b""  # EOF before anything is sent
        assert proxy.counts["drop"] == 1


def test_reset_sends_rst(echo_port: int) -> None:
    with FaultProxy(echo_port, reset=1.0) as proxy:
        with pytest.raises(ConnectionResetError):  # at connect() already, or at the first read
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5).recv(10)
        assert proxy.counts["reset"] == 1


def test_stall_holds_then_closes(echo_port: int) -> None:
    with FaultProxy(echo_port, stall=1.0, stall_s=1.0) as proxy:
        start = time.monotonic()
        assert _exchange(proxy.port, b"hello", timeout_s=0.3) == (b"", "timeout")
        received, how = _exchange(proxy.port, b"hello", timeout_s=5.0)
        assert (received, how) == (b"", "eof") and time.monotonic() - start >= 1.0
        assert proxy.counts["stall"] == 2


def test_mid_body_cuts_within_budget(echo_port: int) -> None:
    payload = b"z" * 200_000
    with FaultProxy(echo_port, seed=3, mid_body=1.0, mid_body_max_bytes=50_000) as proxy:
        lengths = []
        for _ in range(20):
            received, _how = _exchange(proxy.port, payload)
            assert received == payload[: len(received)]  # a prefix, never altered bytes
            lengths.append(len(received))
        assert proxy.counts["mid_body"] == 20
    assert max(lengths) <= 50_000 and len(set(lengths)) > 5, lengths


def test_seeded_schedule_repeats_and_counts_add_up(echo_port: int) -> None:
    def run(seed: int) -> tuple[dict[str, int], list[str]]:
        fates = []
        with FaultProxy(
            echo_port, seed=seed, drop=0.2, reset=0.2, stall=0.1, mid_body=0.2, stall_s=0.05,
            mid_body_max_bytes=1000,
        ) as proxy:  # fmt: skip
            for _ in range(60):
                received, how = _exchange(proxy.port, b"q" * 5000, timeout_s=2.0)
                fates.append("pass" if received == b"q" * 5000 else how)
            return proxy.counts, fates

    counts, fates = run(11)
    assert sum(counts.values()) == 60 and all(counts[k] > 0 for k in counts), counts
    assert fates.count("pass") == counts["pass"]
    assert run(11) == (counts, fates)
    assert run(12)[0] != counts


def test_set_mode_and_cut_live(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as live:
            live.sendall(b"ping")
            assert live.recv(10) == b"ping"
            proxy.set_mode(reset=1.0)
            with pytest.raises(ConnectionResetError):
                _ = socket.create_connection(("127.0.0.1", proxy.port), timeout=5).recv(10)
            proxy.cut_live()
            assert live.recv(10) == b""
        proxy.set_mode()
        assert _exchange(proxy.port, b"back") == (b"back", "eof")
        with pytest.raises(ValueError, match="sum to at most 1"):
            proxy.set_mode(drop=0.7, reset=0.7)
