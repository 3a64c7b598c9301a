"""A connection: one response reading a stream from the store at its own pace.

Framework-neutral (asyncio): it is given a ``write(bytes)`` coroutine and writes the priming
bytes at once, then everything stored after its cursor, coalescing whatever is pending into
one write; a ping after ``heartbeat_s`` without a write; ``reconnect`` at shutdown. What those
bytes are is its :class:`~agent_stream.framing.Framing`'s business (SSE unless told otherwise).
A write that makes no progress for ``send_timeout_s`` ends the connection (the client can
resume later), so a stalled reader holds bounded memory and never slows the run.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeAlias, cast

from ..errors import ResumeError, StoreUnavailableError
from ..events import UNSET, Start, UnsetType
from ..framing import EndingFraming, Framing
from .manager import RunManager, StreamOptions
from .observing import ConnectionObserver, observe_connection

__all__ = ["Connection", "EndReason", "Heartbeats", "start_event"]

logger = logging.getLogger("agent_stream")

EndReason: TypeAlias = Literal["done", "disconnected", "shutdown", "stalled", "lost"]
Write: TypeAlias = Callable[[bytes], Awaitable[None]]

_READ_LIMIT = 4096
# A timer may fire up to this early (libuv rounds to milliseconds); a ping that is due within
# it is sent now rather than re-armed for a millisecond.
_SLACK_S = 0.002
_SHUTDOWN_SEND_S = 1.0


def start_event(
    manager: RunManager, stream_id: str, options: StreamOptions, *, resumed: bool, urls: bool
) -> Start:
    """The ``start`` event a response opens with: how often it pings, the largest event it
    sends and, when ``urls`` (the stream routes are mounted), where to resume and stop."""
    return Start(
        stream_id=stream_id,
        heartbeat_ms=round(options.heartbeat_s * 1000),
        resume_url=manager.resume_path(stream_id) if urls else "",
        stop_url=manager.stop_path(stream_id) if urls else "",
        report_url=manager.report_path(stream_id) if urls else "",
        resumed=resumed,
        resume_window_ms=_resume_window_ms(manager, options),
        max_event_bytes=options.max_event_bytes,
    )


def _resume_window_ms(manager: RunManager, options: StreamOptions) -> int | UnsetType:
    """How long a resume can succeed after a disconnect: the run kept alive, then its events.

    Unknown (left out) when the run goes on without its client (``detach``) or the store does
    not say how long it keeps an ended stream (``ttl_s``).
    """
    ttl_s = getattr(manager.store, "ttl_s", None)
    if options.disconnect == "detach" or not isinstance(ttl_s, int | float):
        return UNSET
    grace_s = options.resume_grace_s if options.disconnect == "grace" else 0.0
    return round((grace_s + ttl_s) * 1000)


class Heartbeats:
    """One timer for the heartbeats and send deadlines of all of a manager's connections.

    Each open connection has one entry in a heap, at the time it must next be
    looked at (its last write + ``heartbeat_s``, or its write's start + ``send_timeout_s``);
    a write only records the time, so a busy connection costs the timer one heap push per
    heartbeat and an idle one one entry (instead of a timer handle each, re-armed per write).
    """

    __slots__ = ("_count", "_heap", "_timer", "_when", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Connection]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._when = math.inf
        self._count = 0  # tie-breaker: connections do not compare

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, when: float, connection: Connection) -> None:
        self._count += 1
        heapq.heappush(self._heap, (when, self._count, connection))
        if when < self._when:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._when = when
        self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._when = math.inf
        heap = self._heap
        now = self.loop.time()
        while heap and heap[0][0] <= now + _SLACK_S:
            connection = heapq.heappop(heap)[2]
            when = connection._check(now)
            if when is not None:
                self._count += 1
                heapq.heappush(heap, (when, self._count, connection))
        if heap:
            self._arm(heap[0][0])


class Connection:
    """Pumps one stream from the store to one client (:meth:`pump`)."""

    __slots__ = (
        "_clock",
        "_cut",
        "_ending",
        "_last_write",
        "_ping_due",
        "_task",
        "_wake",
        "_writing_since",
        "closed",
        "cursor",
        "framing",
        "is_disconnected",
        "listener",
        "manager",
        "options",
        "resumed",
        "sent_bytes",
        "stream_id",
    )

    def __init__(
        self,
        manager: RunManager,
        stream_id: str,
        cursor: int,
        options: StreamOptions,
        framing: Framing,
        *,
        resumed: bool = False,
    ) -> None:
        self.manager = manager
        self.stream_id = stream_id
        self.framing = framing
        self._ending = framing if isinstance(framing, EndingFraming) else None
        self.cursor = framing.read_after(cursor)  # seq of the last event read
        self.options = options
        self.resumed = resumed
        self.sent_bytes = 0
        self.listener: asyncio.Future[Any] | None = None  # the adapter's receive() task
        self.closed = False
        self.is_disconnected = False
        self._task: asyncio.Task[object] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._last_write = 0.0
        self._writing_since: float | None = None
        self._ping_due: float | None = None  # when the ping being sent was due
        self._cut: Literal["stalled", "shutdown"] | None = None
        self._clock: Callable[[], float] = time.monotonic  # the loop's clock once pumping

    def interrupt(self) -> None:
        """Shutdown: :meth:`pump` wakes up (or abandons a write that waits for the client),
        writes ``reconnect`` and ends."""
        if self._task is not None:
            if self._writing_since is not None:
                self._cancel("shutdown")
            else:
                self._wake_up()
            # reconnect gets _SHUTDOWN_SEND_S, not send_timeout_s: the process is exiting
            heartbeats = self.manager.heartbeats
            if heartbeats is not None:
                heartbeats.add(heartbeats.loop.time() + _SHUTDOWN_SEND_S, self)

    def disconnected(self) -> None:
        """The client went away (the adapter saw ``http.disconnect``): end :meth:`pump`."""
        self.is_disconnected = True
        self._wake_up()

    def _wake_up(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _cancel(self, why: Literal["stalled", "shutdown"]) -> None:
        if self._cut is None and self._task is not None:
            self._cut = why
            self._task.cancel()

    def _check(self, now: float) -> float | None:
        # Called by Heartbeats: ping or reap if due; when to look again (None: forget me).
        # A write records only its start, so a stalled one is found at the next look: looks
        # are at most send_timeout_s / 2 apart, a stalled reader is reaped after 1 to 1.5 x
        # send_timeout_s.
        if self.closed:
            return None
        options = self.options
        since = self._writing_since
        if since is not None:
            timeout = options.send_timeout_s
            if self.manager.is_shutting_down:
                timeout = min(timeout, _SHUTDOWN_SEND_S)
            deadline = since + timeout
            if deadline <= now + _SLACK_S:
                self._cancel("stalled")
                return None
            return deadline
        step = min(options.heartbeat_s, options.send_timeout_s / 2)
        due = self._last_write + options.heartbeat_s
        if due <= now + _SLACK_S:
            self._ping_due = due
            self._wake_up()
            # Look again a step after the ping was due, not after this look: a stall (a full
            # GC) makes one late look for all the pings due during it, which would otherwise
            # fire together in every later period, a burst that grows with each stall.
            return max(due + step, now + step / 2)
        return min(due, now + step)

    async def _send(self, write: Write, chunk: bytes) -> bool:
        # False: the reader made no progress for send_timeout_s (Heartbeats cancelled us).
        clock = self._clock
        self._writing_since = clock()
        try:
            await write(chunk)
        except asyncio.CancelledError:
            cut, self._cut = self._cut, None
            if cut is None:
                raise
            cast("asyncio.Task[object]", self._task).uncancel()
            if cut == "stalled":
                self._log_stalled()
                if self.manager.telemetry is not None:
                    self.manager.telemetry.connection_reaped()
                return False
            return True  # shutdown: the chunk is dropped, reconnect follows
        finally:
            self._writing_since = None
        self.sent_bytes += len(chunk)
        now = clock()
        due = self._ping_due
        if due is not None and chunk is self.framing.ping():
            # the next ping keeps this one's schedule (see _check) unless it went out late
            now = max(due, now - self.options.heartbeat_s / 2)
        self._last_write = now
        self._ping_due = None
        return True

    def _log_stalled(self) -> None:
        logger.info(
            "stream %s: a reader made no progress for %ss; closing its connection",
            self.stream_id,
            self.options.send_timeout_s,
        )

    def pump(self, write: Write, first: bytes = b"") -> Coroutine[Any, Any, EndReason]:
        """Write ``first`` (the priming frame), then the stream until it ends or must stop.

        Runs in the task that awaits it, alone: one ``await`` of one future per wait, resolved
        by the store (:meth:`~agent_stream.server.store.StreamStore.watch`), the manager's
        :class:`Heartbeats`, the disconnect (:meth:`disconnected`) or shutdown.
        """
        observer = observe_connection(self.manager, self)
        if observer is None:
            return self._pump(write, first)  # no wrapper frame to resume at every event
        return self._observed(observer, write, first)

    async def _observed(
        self, observer: ConnectionObserver, write: Write, first: bytes
    ) -> EndReason:
        reason: EndReason = "disconnected"  # what an exception out of a write means
        try:
            reason = await self._pump(write, first)
        finally:
            observer.ended(reason)
        return reason

    async def _pump(self, write: Write, first: bytes) -> EndReason:
        manager, stream_id, framing = self.manager, self.stream_id, self.framing
        store = manager.store
        loop = asyncio.get_running_loop()
        heartbeats = manager.heartbeats
        if heartbeats is None or heartbeats.loop is not loop:
            heartbeats = manager.heartbeats = Heartbeats(loop)
        self._task = asyncio.current_task()
        self._clock = loop.time
        manager.connections.add(self)
        self._last_write = loop.time()
        options = self.options
        heartbeats.add(
            self._last_write + min(options.heartbeat_s, options.send_timeout_s / 2), self
        )
        pending = first
        del first
        fresh = True  # something may have been stored since the last read
        try:
            while True:
                if manager.is_shutting_down:
                    end = pending + framing.reconnect()
                    return "shutdown" if await self._send(write, end) else "stalled"
                if self.is_disconnected:
                    return "disconnected"
                if pending:
                    if not await self._send(write, pending):
                        return "stalled"
                    pending = b""
                    if not fresh:
                        continue
                elif self._ping_due is not None:
                    pending = framing.ping()
                    continue
                elif not fresh:
                    wake = loop.create_future()
                    if store.watch(stream_id, self.cursor, wake):  # else: more is stored
                        self._wake = wake
                        await wake
                        self._wake = None
                    fresh = True
                    continue
                try:
                    result = store.read_nowait(stream_id, self.cursor, limit=_READ_LIMIT)
                    if result is None:  # the store must do I/O (RedisStore: another process's)
                        result = await store.read(stream_id, self.cursor, limit=_READ_LIMIT)
                except (ResumeError, StoreUnavailableError) as exc:
                    logger.info("stream %s: connection ends: %s", stream_id, exc)
                    return "lost"
                fresh = False
                events = result.events
                if events:
                    pending = framing.events(self.cursor + 1, events)
                    self.cursor += len(events)
                    if self.cursor == result.last_seq and (
                        result.is_done or (self._ending is not None and self._ending.ends_response)
                    ):  # the stream's end, or the format's (EndingFraming)
                        return "done" if await self._send(write, pending) else "stalled"
                    fresh = len(events) == _READ_LIMIT
                elif result.is_done:
                    return "done"
        finally:
            self.closed = True
            self._wake = None
            manager.connections.discard(self)
