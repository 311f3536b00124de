"""A TCP proxy on loopback that breaks connections on purpose, for bad-network tests.

There is no toxiproxy in the registries and no netem in the test kernel, so
this small asyncio proxy runs in a background thread. Each accepted connection
draws its fate from a seeded RNG (the same seed and the same order of
connections give the same schedule):

- ``pass``: forwarded untouched;
- ``drop``: accepted and closed at once (the client reads EOF, or gets an RST if it
  had already sent bytes: that is how Linux closes a socket with unread data);
- ``reset``: closed with SO_LINGER 0, so the client gets a TCP RST;
- ``stall``: accepted, nothing forwarded, held for ``stall_s`` seconds, then closed;
- ``mid_body``: forwarded until ``1..mid_body_max_bytes`` bytes have gone one way
  (upstream or downstream, drawn too), then both sides are cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from typing import Literal, overload

Fault = Literal["pass", "drop", "reset", "stall", "mid_body"]
FAULTS: tuple[Fault, ...] = ("drop", "reset", "stall", "mid_body")
CHUNK = 65536


class _Cut(Exception):
    """The byte budget of a mid-body connection ran out."""


class FaultProxy:
    """``FaultProxy(target_port)`` or ``FaultProxy(host, port, seed=.., drop=.., ...)``; a context manager.

    Probabilities are per connection; what is left of 1 passes. ``.port`` is the
    proxy's own loopback port, ``.counts`` how many connections met each fate.
    """

    @overload
    def __init__(
        self, target: int, *, seed: int = ..., drop: float = ..., reset: float = ..., stall: float = ...,
        mid_body: float = ..., stall_s: float = ..., mid_body_max_bytes: int = ..., listen_port: int = ...,
    ) -> None: ...  # fmt: skip

    @overload
    def __init__(
        self, target: str, target_port: int, *, seed: int = ..., drop: float = ..., reset: float = ...,
        stall: float = ..., mid_body: float = ..., stall_s: float = ..., mid_body_max_bytes: int = ...,
        listen_port: int = ...,
    ) -> None: ...  # fmt: skip

    def __init__(
        self,
        target: int | str,
        target_port: int | None = None,
        *,
        seed: int = 0,
        drop: float = 0.0,
        reset: float = 0.0,
        stall: float = 0.0,
        mid_body: float = 0.0,
        stall_s: float = 5.0,
        mid_body_max_bytes: int = 65536,
        listen_port: int = 0,
    ) -> None:
        if isinstance(target, int):
            self.target_host, self.target_port = "127.0.0.1", target
        else:
            if target_port is None:
                raise TypeError("FaultProxy(host, port): the target port is missing")
            self.target_host, self.target_port = target, target_port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.set_mode(drop=drop, reset=reset, stall=stall, mid_body=mid_body)
        self.stall_s, self.mid_body_max_bytes = stall_s, mid_body_max_bytes
        self._listen_port = listen_port
        self.port = 0
        self._counts: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._live: set[asyncio.Task[None]] = set()

    def set_mode(
        self, *, drop: float = 0.0, reset: float = 0.0, stall: float = 0.0, mid_body: float = 0.0
    ) -> None:
        """Set each fault's probability for connections accepted from now on (all 0: a plain proxy)."""
        weights = {"drop": drop, "reset": reset, "stall": stall, "mid_body": mid_body}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must be >= 0 and sum to at most 1: {weights}")
        with self._lock:
            self._weights = weights

    @property
    def counts(self) -> dict[str, int]:
        """Connections per fate so far: pass, drop, reset, stall, mid_body (0 when none)."""
        with self._lock:
            return {kind: self._counts[kind] for kind in ("pass", *FAULTS)}

    def _draw(self) -> tuple[Fault, int, bool]:
        """(fate, byte budget, budget applies upstream) for the next connection, from the seeded RNG."""
        with self._lock:
            x, acc, fate = self._rng.random(), 0.0, "pass"
            for kind in FAULTS:
                acc += self._weights[kind]
                if x < acc:
                    fate = kind
                    break
            budget = self._rng.randint(1, self.mid_body_max_bytes)
            upstream = self._rng.random() < 0.5
            self._counts[fate] += 1
        return fate, budget, upstream  # type: ignore[return-value]

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        self.port = future.result(10)
        return self

    async def _serve(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._listen_port)
        return int(self._server.sockets[0].getsockname()[1])

    def cut_live(self) -> None:
        """Abort every connection in flight now (a network partition for the connections that exist)."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop).result(10)

    async def _cancel_all(self) -> None:
        tasks = list(self._live)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cancel_all()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connections -----------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._live.add(task)
        try:
            await self._handle(reader, writer)
        except (asyncio.CancelledError, OSError):
            pass
        finally:
            self._live.discard(task)
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fate, budget, upstream = self._draw()
        if fate == "drop":
            writer.close()
            return
        if fate == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if fate == "stall":
            await asyncio.sleep(self.stall_s)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            return
        cut = budget if fate == "mid_body" else None
        pipes = [
            asyncio.ensure_future(_pipe(reader, up_writer, cut if upstream else None)),
            asyncio.ensure_future(_pipe(up_reader, writer, None if upstream else cut)),
        ]
        try:  # ends when both directions reach EOF, or at the first cut or error
            await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            up_writer.transport.abort()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, budget: int | None) -> None:
    """Copy ``src`` to ``dst`` until EOF (then half-close ``dst``), or raise _Cut after ``budget`` bytes."""
    while data := await src.read(CHUNK):
        if budget is not None and len(data) >= budget:
            dst.write(data[:budget])
            await dst.drain()
            raise _Cut
        if budget is not None:
            budget -= len(data)
        dst.write(data)
        await dst.drain()
    if dst.can_write_eof():
        dst.write_eof()
