"""A loopback TCP proxy in front of Redis that can hold back a client's commands (asyncio).

``hold()`` keeps every client-to-server byte sent from then on, on every connection but the
client's pub/sub ones, until ``release()``; server-to-client bytes always flow. Between a
worker and Redis it makes that worker's commands (appends, acknowledgements) land later than
another worker's, while the worker still hears (and health-checks) its pub/sub channel::

    async with HoldingProxy(redis.port) as proxy:
        ...  # the worker uses redis://127.0.0.1:{proxy.port}
        proxy.hold()
        ...  # what the worker sends now waits; proxy.held counts the writes held
        proxy.release()
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from tests.rrproxy import RoundRobinProxy

__all__ = ["HoldingProxy"]

_SUBSCRIBE = b"SUBSCRIBE"  # SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE as RESP bulk strings


class HoldingProxy(RoundRobinProxy):
    """Listens on ``127.0.0.1:<port>`` and splices each connection to ``upstream``."""

    def __init__(self, upstream: int) -> None:
        super().__init__([upstream])
        self.held = 0  # client writes held since the last hold()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._changed = asyncio.Event()

    def hold(self) -> None:
        self.held = 0
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def wait_held(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` writes are held; False after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.held < count:
                    await self._changed.wait()
                    self._changed.clear()
        return self.held >= count

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        await super().__aexit__(exc_type, exc, tb)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        is_subscriber = False
        try:
            while chunk := await reader.read(65536):
                is_subscriber = is_subscriber or _SUBSCRIBE in chunk.upper()
                if not is_subscriber and not self._flowing.is_set():
                    self.held += 1
                    self._changed.set()
                    await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()
