"""The chaos soak's balancer: round-robin over the live workers, with cuts on demand (asyncio).

Like a plain L4 balancer with health checks: connection n goes to the next upstream that
accepts a connection (a dead worker is skipped), no stickiness. :meth:`ChaosProxy.cut` breaks
live connections chosen at random, half with a FIN and half with an RST, in both directions,
as a flaky network or a restarted middlebox would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from tests.faultproxy import abort_with_rst
from tests.rrproxy import pipe

__all__ = ["ChaosProxy"]


@dataclass(eq=False)
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    upstream_port: int = 0


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    cuts: int = 0
    routes: dict[int, int] = field(default_factory=dict)


class ChaosProxy:
    """Listens on ``127.0.0.1:<port>``; ``upstreams`` (ports, ``None`` for a slot being
    restarted) may be changed at any time."""

    def __init__(self, upstreams: list[int | None], *, rng: random.Random) -> None:
        self.upstreams = upstreams
        self.rng = rng
        self.stats = ProxyStats()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._next = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for pair in list(self._pairs):
            _break(pair, rst=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    def cut(self, count: int) -> int:
        """Break up to ``count`` live connections; returns how many."""
        live = [pair for pair in self._pairs if pair.upstream is not None]
        chosen = self.rng.sample(live, min(count, len(live)))
        for pair in chosen:
            _break(pair, rst=self.rng.random() < 0.5)
        self.stats.cuts += len(chosen)
        return len(chosen)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int] | None:
        ports = [port for port in self.upstreams if port is not None]
        for attempt in range(len(ports)):
            port = ports[(self._next + attempt) % len(ports)]
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), timeout=5
                )
            except (OSError, TimeoutError):
                continue
            self._next = (self._next + attempt + 1) % max(1, len(ports))
            return reader, writer, port
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        pair = _Pair(writer)
        self._pairs.add(pair)
        try:
            upstream = await self._connect()
            if upstream is None:
                self.stats.refused += 1
                abort_with_rst(writer)
                return
            up_reader, up_writer, port = upstream
            pair.upstream, pair.upstream_port = up_writer, port
            self.stats.routes[port] = self.stats.routes.get(port, 0) + 1
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            _break(pair, rst=False)


def _break(pair: _Pair, *, rst: bool) -> None:
    for writer in (pair.client, pair.upstream):
        if writer is None:
            continue
        if rst:
            abort_with_rst(writer)
        else:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
