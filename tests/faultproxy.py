"""A fault-injecting TCP proxy for loopback tests (asyncio).

The proxy sits between a client and a real server on 127.0.0.1 and breaks the server-to-client
direction on purpose, at byte offsets a test chooses or draws at random: it can cut the
connection (FIN), reset it (RST), or stall it (the socket stays open, no more bytes flow, the
half-open case). Client-to-server bytes always pass through untouched.

Every connection asks ``plan(n)`` (n counts accepted connections from 0) for a :class:`Fault`
or ``None`` (pass through). All waits are bounded: a stalled connection is held for at most
``max_stall_s`` and the proxy refuses more than ``max_connections`` connections.

Example::

    plan = lambda n: Fault("cut", 500) if n < 3 else None
    async with FaultProxy(upstream_port, plan=plan) as proxy:
        ...  # talk to http://127.0.0.1:{proxy.port}
    assert proxy.faults_fired == 3
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

__all__ = ["Fault", "FaultProxy", "random_plan"]

FaultKind = Literal["cut", "reset", "stall"]


@dataclass(frozen=True)
class Fault:
    """Break a connection after ``after_bytes`` server-to-client bytes have been forwarded."""

    kind: FaultKind
    after_bytes: int


Plan = Callable[[int], Fault | None]


def random_plan(
    seed: int,
    *,
    faults: int,
    first_min_bytes: int,
    max_bytes: int,
    kinds: tuple[FaultKind, ...] = ("cut", "reset"),
    stalls: int = 0,
) -> Plan:
    """Fault the first ``faults`` connections at random offsets in ``[1, max_bytes]``.

    The first connection is never faulted before ``first_min_bytes`` (so its response headers
    and priming frame get through). ``stalls`` of the faults, spread evenly, are stalls.
    """
    rng = random.Random(seed)
    stall_every = faults // stalls if stalls else 0

    def plan(n: int) -> Fault | None:
        if n >= faults:
            return None
        low = first_min_bytes if n == 0 else 1
        offset = rng.randint(low, max(low, max_bytes))
        if stall_every and n % stall_every == stall_every - 1:
            return Fault("stall", offset)
        return Fault(rng.choice(kinds), offset)

    return plan


@dataclass
class _Stats:
    connections: int = 0
    faults_fired: int = 0
    fired: list[Fault] = field(default_factory=list)
    bytes_down: int = 0


class FaultProxy:
    """A TCP proxy on ``127.0.0.1:<port>`` in front of ``127.0.0.1:<upstream_port>``."""

    def __init__(
        self,
        upstream_port: int,
        *,
        plan: Plan | None = None,
        max_connections: int = 1000,
        max_stall_s: float = 30.0,
    ) -> None:
        self.upstream_port = upstream_port
        self.plan: Plan = plan or (lambda n: None)
        self.max_connections = max_connections
        self.max_stall_s = max_stall_s
        self.stats = _Stats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "use `async with FaultProxy(...)` first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def faults_fired(self) -> int:
        return self.stats.faults_fired

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            abort_with_rst(writer)  # every pipe then sees EOF and its task ends by itself
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = self.stats.connections
        self.stats.connections += 1
        if n >= self.max_connections:
            abort_with_rst(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(n, reader, writer)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)

    async def _serve(
        self, n: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            abort_with_rst(client_w)
            return
        self._writers.add(up_w)
        fault = self.plan(n)
        upstream = asyncio.ensure_future(_pipe(client_r, up_w, None))
        outcome = "eof"
        try:
            outcome = await _pipe(up_r, client_w, fault, self.stats)
            if outcome == "stall":
                # half-open: both sockets stay open and silent until the client gives up
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(upstream), timeout=self.max_stall_s)
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await upstream
            abort_with_rst(up_w)
            self._writers.discard(up_w)
            if outcome in ("eof", "cut"):
                _close(client_w)
            else:
                abort_with_rst(client_w)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    fault: Fault | None,
    stats: _Stats | None = None,
) -> str:
    """Copy bytes until EOF ("eof") or the fault's offset (the fault's kind)."""
    budget = fault.after_bytes if fault is not None else -1
    while True:
        try:
            data = await reader.read(65536)
        except OSError:
            return "eof"
        if not data:
            if stats is None:
                # the client half-closed its side; pass the half-close on to the server
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
            return "eof"
        if budget >= 0 and len(data) >= budget:
            assert stats is not None and fault is not None
            data = data[:budget]
            if data:
                writer.write(data)
                with contextlib.suppress(OSError):
                    await writer.drain()
            stats.bytes_down += len(data)
            stats.faults_fired += 1
            stats.fired.append(fault)
            return fault.kind
        if budget >= 0:
            budget -= len(data)
        writer.write(data)
        if stats is not None:
            stats.bytes_down += len(data)
        try:
            await writer.drain()
        except OSError:
            return "eof"


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


def abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    with contextlib.suppress(OSError, RuntimeError):
        transport.abort()
