"""The hub client when a kept-alive connection is closed and the new one is closed too.

Found by the capture -> sync -> hub fault harness (tests/hub/test_loop_faults.py): a
reused connection that the server had closed was retried once on a new connection, and
when that one was reset as well (a proxy resetting it, a hub going down) the client's
internal ``_StaleConnection`` escaped instead of ``TargetUnavailable``; the background
sync thread of ``run --hub`` stopped for good and ``edgeloop sync`` died with a traceback.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from edgeloop.improve.sync_targets import TargetUnavailable
from edgeloop.improve.sync_targets.http import Client

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture()
def one_answer_then_hang_ups() -> Iterator[int]:
    """A loopback server: the first connection gets one keep-alive answer, then is closed; every
    later connection is closed as soon as its request arrives."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        first = True
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                conn.recv(65536)
                if first:
                    conn.sendall(ANSWER)
                    first = False

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    server.close()
    thread.join(5)


def test_a_second_closed_connection_is_target_unavailable(one_answer_then_hang_ups: int) -> None:
    client = Client(f"http://127.0.0.1:{one_answer_then_hang_ups}", "t", timeout_s=5)
    try:
        assert client.request("GET", "/healthz").status == 200  # kept alive, then closed by the server
        with pytest.raises(TargetUnavailable, match="closed before the answer"):
            client.request("POST", "/api/v1/samples", b"x" * 1000)
    finally:
        client.close()
