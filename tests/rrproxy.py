"""A round-robin TCP proxy on loopback (asyncio), without stickiness, like a plain L4 balancer.

Connection n goes to ``upstreams[n % len(upstreams)]``, so two sequential connections land on
two different processes. ``routes`` records the upstream port of every connection.

::

    async with RoundRobinProxy([port_a, port_b]) as proxy:
        ...  # talk to http://127.0.0.1:{proxy.port}
    assert proxy.routes == [port_a, port_b, port_a]
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Self

__all__ = ["RoundRobinProxy"]


class RoundRobinProxy:
    """Listens on ``127.0.0.1:<port>`` and splices each connection to the next upstream."""

    def __init__(self, upstreams: Sequence[int], *, max_connections: int = 4096) -> None:
        self.upstreams = list(upstreams)
        self.max_connections = max_connections
        self.routes: list[int] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # closing the sockets ends every splice (cancelling handler tasks makes asyncio log)
        for writer in list(self._writers):
            writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.routes) >= self.max_connections:
            writer.close()
            return
        port = self.upstreams[len(self.routes) % len(self.upstreams)]
        self.routes.append(port)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=5
            )
        except (OSError, TimeoutError):
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._forward(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
                self._writers.discard(w)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to upstream (a subclass may hold or filter it); upstream to client is
        :func:`pipe`."""
        await pipe(reader, writer)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until EOF or a broken connection, then half-close."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
