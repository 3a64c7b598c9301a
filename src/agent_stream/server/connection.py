"""A connection: one response reading a stream from the store at its own pace.

Framework-neutral (anyio): it is given a ``write(bytes)`` coroutine and writes the priming
frame at once, then everything stored after its cursor, coalescing whatever is pending into
one write; ``: ping`` after ``heartbeat_s`` without a write; ``reconnect`` (no id) at shutdown.
A write that makes no progress for ``send_timeout_s`` ends the connection (the client can
resume later), so a stalled reader holds bounded memory and never slows the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias

import anyio

from ..emitter import encode_frame_bytes
from ..errors import ResumeError, StoreUnavailableError
from ..events import Reconnect, Start, encode_data
from .manager import RunManager, StreamOptions

__all__ = ["Connection", "EndReason", "priming_frame"]

logger = logging.getLogger("agent_stream")

EndReason: TypeAlias = Literal["done", "disconnected", "shutdown", "stalled", "lost"]
Write: TypeAlias = Callable[[bytes], Awaitable[None]]

PING = b": ping\n\n"
RECONNECT = encode_frame_bytes("reconnect", encode_data(Reconnect(reason="server-shutdown")))
_READ_LIMIT = 4096


def priming_frame(
    manager: RunManager, stream_id: str, cursor: int, options: StreamOptions, *, resumed: bool
) -> bytes:
    """``id: <sid>:<cursor>`` + ``retry:`` + the ``start`` event: the first bytes of a response."""
    start = Start(
        stream_id=stream_id,
        heartbeat_ms=round(options.heartbeat_s * 1000),
        resume_url=manager.resume_path(stream_id),
        stop_url=manager.stop_path(stream_id),
        resumed=resumed,
    )
    return b"id: %b:%d\nretry: %d\nevent: start\ndata: %b\n\n" % (
        stream_id.encode(),
        cursor,
        options.retry_ms,
        encode_data(start),
    )


class Connection:
    """Pumps one stream from the store to one client."""

    __slots__ = ("cursor", "manager", "on_interrupt", "options", "stream_id")

    def __init__(
        self, manager: RunManager, stream_id: str, cursor: int, options: StreamOptions
    ) -> None:
        self.manager = manager
        self.stream_id = stream_id
        self.cursor = cursor
        self.options = options
        self.on_interrupt: Callable[[], None] | None = None

    def interrupt(self) -> None:
        """Shutdown: stop pumping now; the adapter then writes ``reconnect`` and ends.

        The adapter sets ``on_interrupt`` (e.g. to cancel the scope running :meth:`pump`).
        """
        if self.on_interrupt is not None:
            self.on_interrupt()

    async def _write(self, write: Write, chunk: bytes) -> bool:
        with anyio.move_on_after(self.options.send_timeout_s):
            await write(chunk)
            return True
        logger.info(
            "stream %s: a reader made no progress for %ss; closing its connection",
            self.stream_id,
            self.options.send_timeout_s,
        )
        return False

    async def pump(self, write: Write, first: bytes = b"") -> EndReason:
        """Write ``first`` (the priming frame), then the stream until it ends or must stop."""
        manager, store, stream_id = self.manager, self.manager.store, self.stream_id
        heartbeat_s = self.options.heartbeat_s
        manager.connections.add(self)
        try:
            pending = first
            last_write = time.monotonic()
            while True:
                if manager.is_shutting_down:
                    return (
                        "shutdown" if await self._write(write, pending + RECONNECT) else "stalled"
                    )
                if pending:
                    if not await self._write(write, pending):
                        return "stalled"
                    pending = b""
                    last_write = time.monotonic()
                wait_s = max(0.0, last_write + heartbeat_s - time.monotonic())
                try:
                    result = await store.read(
                        stream_id, self.cursor, limit=_READ_LIMIT, wait_s=wait_s
                    )
                except (ResumeError, StoreUnavailableError) as exc:
                    # Fell behind the trim point, expired, or the store is gone: end this
                    # response; the client's resume gets the typed answer (410/404/503).
                    logger.info("stream %s: connection ends: %s", stream_id, exc)
                    return "lost"
                if result.frames:
                    self.cursor += len(result.frames)
                    pending = b"".join(result.frames)
                    if result.is_done and self.cursor == result.last_seq:
                        return "done" if await self._write(write, pending) else "stalled"
                elif result.is_done:
                    return "done"
                elif time.monotonic() - last_write >= heartbeat_s:
                    pending = PING
        finally:
            manager.connections.discard(self)
