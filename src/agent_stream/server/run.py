"""A run: the producer task that turns an agent's output into stored, numbered events.

Framework-neutral (core + anyio). A :class:`Run` iterates its source and appends each event to
the store *before* any connection can send it; connections read from the store at their own
pace (see :mod:`agent_stream.server.connection`). Whatever happens, the stream ends with
exactly one ``done``:

- the source raised: ``error`` (type, message; the traceback only with ``debug=True``), then
  ``done{reason: "error"}``;
- the source ended without ``done``: ``done{reason: "completed"}`` is appended;
- the source yields a second ``done`` (or anything after the first): dropped, and the source is
  still drained so code after its last ``yield`` runs;
- the run is cancelled (disconnect policy, stop, shutdown): the agent's ``finally`` runs, then
  ``done{reason: "cancelled"}`` (``"interrupted"`` at shutdown) lands in the store and the
  recording even if nobody reads;
- the store gives the stream up (:class:`~agent_stream.server.store.GivingUpStore`, e.g.
  RedisStore after Redis stayed down): the agent is cancelled at once; the store's readers get
  its ``error{interrupted}`` + ``done{interrupted}``.

A source is an async iterable of typed events (``Token(text=...)``) or of SSE frames as
``AgentStreamEmitter`` writes them (``str`` or ``bytes``); frames are parsed, validated and
renumbered with this stream's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import AsyncIterable, Callable
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import anyio
import msgspec

from ..errors import UsageError, truncate
from ..events import (
    EVENT_TYPES,
    AgentEvent,
    Done,
    DoneReason,
    Error,
    JSONValue,
    KnownEvent,
    UnknownEvent,
    encode_data,
    parse_event,
)
from ..sse import SSEDecoder
from .store import GivingUpStore, StoredEvent, StreamStore, SyncAppendStore

__all__ = [
    "DisconnectPolicy",
    "Recorder",
    "RecorderFunc",
    "Run",
    "Source",
    "SourceItem",
]

logger = logging.getLogger("agent_stream")

SourceItem: TypeAlias = AgentEvent | str | bytes
Source: TypeAlias = AsyncIterable[SourceItem]
DisconnectPolicy: TypeAlias = Literal["cancel", "detach", "grace"]

# Let connections run between events of a source that never awaits anything real.
_YIELD_EVERY = 128
_TYPE_BYTES = {name: name.encode() for name in EVENT_TYPES}
_SLOW_TYPES = frozenset({"done", "start", "reconnect"})
_ENCODE = msgspec.json.Encoder().encode


def _call_soon_function() -> Callable[[Callable[[], None]], object] | None:
    # Runs a callback as soon as the current task suspends (before any task it wakes).
    # Elsewhere (trio) the run stores each event as it comes.
    try:
        return asyncio.get_running_loop().call_soon
    except RuntimeError:
        return None


_DONE_APPEND_TIMEOUT_S = 5.0
_NO_SCOPE = contextlib.nullcontext()
_RESERVED_TYPES = frozenset({"start", "reconnect"})


@runtime_checkable
class Recorder(Protocol):
    """Receives every stored event, in order, from inside the event loop.

    ``record`` must not block: buffer the line and write it from a thread or a background
    task. ``data`` is the event's compact JSON; ``elapsed_ms`` counts from the run's start.
    """

    def record(
        self, stream_id: str, seq: int, event_type: str, data: bytes, elapsed_ms: float
    ) -> None: ...


RecorderFunc: TypeAlias = Callable[[str, int, str, bytes, float], None]


def recorder_callable(recorder: Recorder | RecorderFunc | None) -> RecorderFunc | None:
    """The function to call for each event, from a :class:`Recorder` or a plain callable."""
    if recorder is None:
        return None
    if isinstance(recorder, Recorder):
        return recorder.record
    return recorder


class _FrameParser:
    """SSE frames (as ``AgentStreamEmitter`` writes them) -> (type, JSON data) pairs."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder: SSEDecoder | None = None

    def feed(self, chunk: str | bytes) -> list[tuple[str, bytes]]:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if self._decoder is None:
            pair = _parse_whole_frame(text)
            if pair is not None:
                return [pair]
            self._decoder = SSEDecoder()
        return [(ev.event, ev.data.encode()) for ev in self._decoder.feed(text.encode())]

    def close(self) -> list[tuple[str, bytes]]:
        if self._decoder is None:
            return []
        return [(ev.event, ev.data.encode()) for ev in self._decoder.close()]


def _parse_whole_frame(text: str) -> tuple[str, bytes] | None:
    # Fast path for exactly one complete frame with LF line ends and one data line; anything
    # else (several frames, split frames, CR, comments) goes through the full SSE decoder.
    if not text.endswith("\n\n") or "\r" in text:
        return None
    event_type = "message"
    data: str | None = None
    for line in text[:-2].split("\n"):
        if line.startswith("data: "):
            if data is not None:
                return None
            data = line[6:]
        elif line.startswith("event: "):
            event_type = line[7:]
        elif not line.startswith("id: "):
            return None
    if data is None:
        return None
    return event_type, data.encode()


def _checked(event_type: str, data: bytes) -> bytes:
    # Frames from user code are validated once here, so a client never sees a payload the
    # schema rejects; the JSON is re-encoded compactly only when it is not already one line.
    if event_type in _RESERVED_TYPES:
        raise UsageError(
            f"the source yielded a {event_type!r} event; the server sends those itself",
            code="reserved-event",
        )
    parse_event(event_type, data)
    if b"\n" in data or b"\r" in data:
        return msgspec.json.encode(msgspec.json.decode(data))
    return data


class Run:
    """One agent run: owns the producer and the stream's ending.

    Made by :class:`~agent_stream.server.manager.RunManager`. Either some task awaits
    :meth:`drive` (any anyio backend), or, on asyncio, :meth:`start_task` runs it in a task of
    its own, so the response that started it ends with its connection and a detached run
    costs one task.
    """

    __slots__ = (
        "_append_nowait",
        "_call_soon",
        "_cancel_reason",
        "_cancel_requested",
        "_changed",
        "_done_seen",
        "_finished",
        "_finished_event",
        "_grace_timer",
        "_id_prefix",
        "_is_driving",
        "_on_finish",
        "_pending",
        "_recorder",
        "_running",
        "_scope",
        "_seq",
        "_started_at",
        "_task",
        "attached",
        "debug",
        "disconnect",
        "resume_grace_s",
        "source",
        "store",
        "stream_id",
    )

    def __init__(
        self,
        stream_id: str,
        source: Source,
        store: StreamStore,
        *,
        disconnect: DisconnectPolicy = "grace",
        resume_grace_s: float = 30.0,
        recorder: RecorderFunc | None = None,
        debug: bool = False,
        on_finish: Callable[[Run], None] | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.source = source
        self.store = store
        self.disconnect = disconnect
        self.resume_grace_s = resume_grace_s
        self.debug = debug
        self._recorder = recorder
        self._on_finish = on_finish
        # Made when needed: an idle run is mostly waiting, so it should hold little.
        self._scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._cancel_requested = False
        self._cancel_reason: DoneReason = "cancelled"
        self._seq = 0
        self._id_prefix = f"id: {stream_id}:".encode()
        self._pending: list[tuple[str, bytes]] = []
        self._append_nowait = (
            store.append_frames_nowait if isinstance(store, SyncAppendStore) else None
        )
        self._call_soon: Callable[[Callable[[], None]], object] | None = None
        self._done_seen = False
        self._started_at = time.monotonic()
        self._finished = False
        self._finished_event: anyio.Event | None = None
        self._changed: anyio.Event | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._is_driving = False
        self.attached = 0
        if isinstance(store, GivingUpStore):
            store.on_give_up(stream_id, self._given_up)

    @property
    def seq(self) -> int:
        """Seq of the last stored event."""
        return self._seq

    @property
    def is_finished(self) -> bool:
        """True once the producer has stopped and ``done`` is stored."""
        return self._finished

    async def wait_finished(self) -> None:
        if self._finished:
            return
        if self._finished_event is None:
            self._finished_event = anyio.Event()
        await self._finished_event.wait()

    def cancel(self, reason: DoneReason = "cancelled") -> None:
        """Cancel the agent now; the stream ends with ``done{reason}`` after its partial output."""
        if self._cancel_requested or self._finished:
            return
        self._cancel_requested = True
        self._cancel_reason = reason
        if self._task is not None:
            if self._running:  # else the task sees the flag when it starts
                self._task.cancel()
        elif self._scope is not None:
            self._scope.cancel()

    def _given_up(self) -> None:
        # The store drops this stream's events from now on and its readers get the
        # interrupted end from the store (spec 7.1): stop the agent rather than run it for
        # nothing. Its done{interrupted} is dropped too, so the stream keeps exactly one done.
        if not self._finished:
            logger.warning("stream %s: the store gave it up; cancelling its agent", self.stream_id)
            self.cancel("interrupted")

    def _add(self, event_type: str, data: bytes) -> None:
        # Queue an event; _flush_nowait / _flush numbers and stores the queue. Nothing is
        # visible to connections (so nothing is sent) before it is in the store.
        if self._done_seen:
            logger.debug("stream %s: dropped %r after 'done'", self.stream_id, event_type)
            return
        if event_type in _RESERVED_TYPES:
            _checked(event_type, b"")
        self._pending.append((event_type, data))
        if event_type == "done":
            self._done_seen = True
        if len(self._pending) == 1 and self._call_soon is not None:
            self._call_soon(self._flush_nowait)

    def _take(self) -> tuple[int, list[tuple[str, bytes]], list[bytes]]:
        # Number the queue: (first seq, [(type, data)], frames).
        # The queue stays the same list (the producer's hot path keeps a reference to it).
        queue = self._pending
        pending = queue[:]
        queue.clear()
        prefix, first = self._id_prefix, self._seq + 1
        self._seq += len(pending)
        frames = [
            b"%b%d\nevent: %b\ndata: %b\n\n"
            % (prefix, seq, _TYPE_BYTES.get(event_type) or event_type.encode(), data)
            for seq, (event_type, data) in enumerate(pending, first)
        ]
        return first, pending, frames

    def _flush_nowait(self) -> None:
        if self._pending and self._append_nowait is not None:
            first, pending, frames = self._take()
            is_done = pending[-1][0] == "done"
            self._append_nowait(self.stream_id, first, frames, is_done=is_done)
            if self._recorder is not None:
                self._recorded(first, pending)

    async def _flush(self) -> None:
        if not self._pending:
            return
        if self._append_nowait is not None:
            self._flush_nowait()
            return
        first, pending, frames = self._take()
        events = [
            StoredEvent(seq, event_type, data, frame)
            for seq, (event_type, data), frame in zip(
                range(first, first + len(frames)), pending, frames, strict=True
            )
        ]
        await self.store.append(self.stream_id, events)
        self._recorded(first, pending)

    def _recorded(self, first: int, pending: list[tuple[str, bytes]]) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        # Events stored together were produced without the run suspending: one timestamp.
        elapsed_ms = (time.monotonic() - self._started_at) * 1000.0
        for seq, (event_type, data) in enumerate(pending, first):
            recorder(self.stream_id, seq, event_type, data, elapsed_ms)

    async def emit(self, event: KnownEvent) -> None:
        """Store ``event`` now, from the agent's code between two of its items (``ask()``)."""
        self._add(event.type, encode_data(event))
        await self._flush()

    async def _store(self, event_type: str, data: bytes) -> None:
        self._add(event_type, data)
        await self._flush()

    async def _drive(self, scope: anyio.CancelScope | None) -> None:
        # The whole run in one coroutine: a waiting run holds every frame of its task.
        # ``scope`` is drive()'s (any backend); None when start_task() runs this in a task of
        # its own, which cancel() cancels.
        self._running = True
        if scope is None and self._cancel_requested:  # cancelled before it started
            await self._end(self._cancel_reason)
            return
        reason: DoneReason = "completed"
        try:
            with scope if scope is not None else _NO_SCOPE:
                try:
                    parser: _FrameParser | None = None
                    is_sync = self._append_nowait is not None
                    count = 0
                    add, pending, encode = self._add, self._pending, _ENCODE
                    async for item in self.source:
                        if isinstance(item, str | bytes):
                            if parser is None:
                                parser = _FrameParser()
                            for event_type, data in parser.feed(item):
                                add(event_type, _checked(event_type, data))
                        else:
                            event_type = item.type
                            if (
                                event_type in _SLOW_TYPES
                                or self._done_seen
                                or type(item) is UnknownEvent
                            ):
                                add(event_type, encode_data(item))
                            else:
                                # Hot path of _add for a typed event (most are tokens).
                                try:
                                    data = encode(item)
                                except UnicodeEncodeError:
                                    # encode_data raises the UsageError naming the fix
                                    data = encode_data(item)
                                pending.append((event_type, data))
                                if len(pending) == 1 and self._call_soon is not None:
                                    self._call_soon(self._flush_nowait)
                        if not is_sync:
                            await self._flush()
                        else:
                            count += 1
                            if count >= _YIELD_EVERY:
                                # a source that never suspends would starve connections
                                count = 0
                                self._flush_nowait()
                                await anyio.lowlevel.checkpoint()
                    if parser is not None:
                        for event_type, data in parser.close():
                            add(event_type, _checked(event_type, data))
                    await self._flush()
                except Exception as exc:  # the one place an agent's crash becomes error + done
                    logger.warning(
                        "agent of stream %s raised %s: %s",
                        self.stream_id,
                        type(exc).__name__,
                        truncate(str(exc), 200),
                        exc_info=self.debug,
                    )
                    if not self._done_seen:
                        await self._fail(exc)
                    reason = "error"
            if scope is not None and scope.cancelled_caught:
                reason = self._cancel_reason
        except asyncio.CancelledError:
            reason = self._cancel_reason
            if scope is not None or not self._cancel_requested:
                raise
            # our own cancel (stop, policy, shutdown) ends the task normally
        except BaseException:
            reason = self._cancel_reason
            raise
        finally:
            await self._end(reason)

    async def _fail(self, exc: Exception) -> None:
        details: dict[str, JSONValue] = {}
        if self.debug:
            details["traceback"] = "".join(traceback.format_exception(exc))
        error = Error(
            error_type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            details=details,
        )
        await self._store("error", encode_data(error))

    def _begin(self) -> None:
        if self._is_driving:
            raise UsageError(f"run {self.stream_id!r} is already being driven", code="run-driven")
        self._is_driving = True
        self._call_soon = _call_soon_function()
        if self._call_soon is None:
            self._append_nowait = None

    async def drive(self) -> None:
        """Run the source to its end (or cancellation) and store exactly one ``done``."""
        self._begin()
        scope = self._scope = anyio.CancelScope()
        if self._cancel_requested:
            scope.cancel()
        await self._drive(scope)

    def start_task(self) -> asyncio.Task[None]:
        """asyncio: drive the run in a task of its own (``cancel`` cancels that task)."""
        self._begin()
        # a constant name: asyncio would format one per task
        task = asyncio.get_running_loop().create_task(self._drive(None), name="agent-stream run")
        task.add_done_callback(_report_failure)
        self._task = task
        return task

    async def _end(self, reason: DoneReason) -> None:
        try:
            self._flush_nowait()  # what the agent produced before it stopped comes first
            if not self._done_seen:
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(_DONE_APPEND_TIMEOUT_S),
                ):
                    await self._store("done", encode_data(Done(reason=reason)))
        finally:
            self._finished = True
            if self._finished_event is not None:
                self._finished_event.set()
            if self._grace_timer is not None:
                self._grace_timer.cancel()
                self._grace_timer = None
            self._notify()
            if self._on_finish is not None:
                self._on_finish(self)

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    def attach(self) -> None:
        """A connection started reading this run."""
        self.attached += 1
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        self._notify()

    async def release(self) -> None:
        """A connection stopped reading; apply the disconnect policy if it was the last.

        With ``grace`` this waits (in the caller's task) up to ``resume_grace_s`` for a
        connection to re-attach before cancelling; :meth:`release_nowait` arms a timer instead.
        """
        self.attached -= 1
        if self.attached > 0 or self._finished or self.disconnect == "detach":
            return
        if self.disconnect == "cancel":
            self.cancel()
            return
        with anyio.move_on_after(self.resume_grace_s):
            while self.attached == 0 and not self._finished:
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()
        self._grace_over()

    def release_nowait(self) -> None:
        """asyncio: like :meth:`release`, with the grace period as a timer (no waiting task)."""
        self.attached -= 1
        if self.attached > 0 or self._finished or self.disconnect == "detach":
            return
        if self.disconnect == "cancel":
            self.cancel()
        elif self._grace_timer is None:
            loop = asyncio.get_running_loop()
            self._grace_timer = loop.call_later(self.resume_grace_s, self._grace_over)

    def _grace_over(self) -> None:
        self._grace_timer = None
        if self.attached == 0 and not self._finished:
            logger.info(
                "stream %s: no client re-attached within %ss; cancelling the run",
                self.stream_id,
                self.resume_grace_s,
            )
            self.cancel()


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("run task failed", exc_info=task.exception())
