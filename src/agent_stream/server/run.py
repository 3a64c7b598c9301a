"""A run: the producer task that turns an agent's output into stored, numbered events.

Framework-neutral (core + asyncio). A :class:`Run` iterates its source and appends each event to
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
- the store gives the stream up (``StreamStore.on_give_up``, e.g. RedisStore after Redis
  stayed down): the agent is cancelled at once; the store's readers get
  its ``error{interrupted}`` + ``done{interrupted}``;
- an event's data is over ``max_event_bytes``: it is not stored; an ``error`` event
  (``error_type: "event-too-large"``, the event's type and size, never its content) takes its
  place, then with the ``"end"`` policy ``done{reason: "error"}`` (the agent is closed), with
  ``"continue"`` the run goes on.

A source is an async iterable of typed events (``Token(text=...)``) or of SSE frames as
``AgentStreamEmitter`` writes them (``str`` or ``bytes``); frames are parsed, validated and
renumbered with this stream's id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import AsyncIterable, Callable
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, runtime_checkable

import anyio
import msgspec

from ..errors import UsageError, truncate
from ..events import (
    DEFAULT_MAX_EVENT_BYTES,
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
from ..sse import SSEDecoder, parse_frame
from .store import StreamStore

if TYPE_CHECKING:
    from ..telemetry import RunTelemetry

__all__ = [
    "MIN_MAX_EVENT_BYTES",
    "DisconnectPolicy",
    "OversizePolicy",
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
OversizePolicy: TypeAlias = Literal["end", "continue"]
#: The smallest ``max_event_bytes`` a server takes: its own error event must fit.
MIN_MAX_EVENT_BYTES = 1024

# Let connections run between events of a source that never awaits anything real.
_YIELD_EVERY = 128
_SLOW_TYPES = frozenset({"done", "start", "reconnect"})
# An observed run takes every kind but token off the hot path, to count it (a token is then
# the batch's length minus the others: its telemetry never looks at the tokens).
_NOT_TOKENS = frozenset(EVENT_TYPES) - {"token"}
_ENCODE = msgspec.json.Encoder().encode


_RESERVED_TYPES = frozenset({"start", "reconnect"})
_FRAME_TYPES = (str, bytes)  # a tuple: ``str | bytes`` would build a union per event


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

    Made by :class:`~agent_stream.server.manager.RunManager`; :meth:`drive` runs it in the
    task that awaits it (a response starts that task, so a detached run costs one task and
    outlives its response). asyncio only.
    """

    __slots__ = (
        "_append_nowait",
        "_call_soon",
        "_cancel_reason",
        "_cancel_requested",
        "_counted_types",
        "_cut",
        "_done_seen",
        "_finished",
        "_finished_event",
        "_grace_timer",
        "_max_bytes",
        "_noted",
        "_noted_types",
        "_observer",
        "_on_finish",
        "_others",
        "_oversize",
        "_pending",
        "_recorder",
        "_seq",
        "_slow_types",
        "_started_at",
        "_task",
        "debug",
        "disconnect",
        "readers",
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
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        oversize: OversizePolicy = "end",
        recorder: RecorderFunc | None = None,
        debug: bool = False,
        on_finish: Callable[[Run], None] | None = None,
        observer: RunTelemetry | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.source = source
        self.store = store
        self.disconnect = disconnect
        self.resume_grace_s = resume_grace_s
        self.debug = debug
        self._max_bytes = max_event_bytes
        self._oversize = oversize
        self._cut = False  # an oversize event ended the run ("end" policy)
        self._recorder = recorder
        self._observer = observer
        # What an observer learns: how many events were not tokens (counted here, so tokens
        # are the stored events minus these; it reads both when it needs them), and, per
        # stored batch, the ones it asked to see (tool calls, errors, done).
        self._others = 0
        self._noted: list[tuple[str, bytes]] = []
        self._noted_types = observer.noted_types if observer is not None else frozenset()
        self._slow_types = _SLOW_TYPES | (_NOT_TOKENS if observer is not None else frozenset())
        # kinds counted on the hot path itself (observed runs only)
        self._counted_types = self._slow_types - _SLOW_TYPES - self._noted_types
        if observer is not None:
            observer.follow(self._observed)
        self._on_finish = on_finish
        self._task: asyncio.Task[object] | None = None  # the task running drive()
        self._cancel_requested = False
        self._cancel_reason: DoneReason = "cancelled"
        self._seq = 0
        self._pending: list[tuple[str, bytes]] = []
        self._append_nowait = store.append_nowait
        self._call_soon: Callable[[Callable[[], None]], object] | None = None
        self._done_seen = False
        self._started_at = time.monotonic()
        self._finished = False
        self._finished_event: anyio.Event | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self.readers = 0  # over every process, as the store last told (on_readers)
        store.on_give_up(stream_id, self._given_up)
        store.on_readers(stream_id, self._readers_changed)
        store.on_stop(stream_id, self.cancel)

    @property
    def max_event_bytes(self) -> int:
        """The largest event data (JSON bytes) this run stores."""
        return self._max_bytes

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
        if self._task is not None:  # else drive() sees the flag when it starts
            self._task.cancel()

    def _was_cancelled(self) -> bool:
        return self._cancel_requested

    def _given_up(self) -> None:
        # The store drops this stream's events from now on and its readers get the
        # interrupted end from the store (spec 7.1): stop the agent rather than run it for
        # nothing. Its done{interrupted} is dropped too, so the stream keeps exactly one done.
        if not self._finished:
            logger.warning("stream %s: the store gave it up; cancelling its agent", self.stream_id)
            self.cancel("interrupted")

    def _add(self, event_type: str, data: bytes) -> None:
        # Queue an event; _flush numbers and stores the queue just before the run's task
        # suspends. Nothing is visible to connections (so nothing is sent) before it is stored.
        if self._done_seen:
            logger.debug("stream %s: dropped %r after 'done'", self.stream_id, event_type)
            return
        if event_type in _RESERVED_TYPES:
            _checked(event_type, b"")
        if len(data) > self._max_bytes:
            self._refuse(event_type, len(data))
            return
        self._queue(event_type, data)

    def _queue(self, event_type: str, data: bytes) -> None:
        self._pending.append((event_type, data))
        if event_type == "done":
            self._done_seen = True
        if self._observer is not None and event_type != "token":
            self._others += 1
            if event_type in self._noted_types:
                self._noted.append((event_type, data))
        if len(self._pending) == 1 and self._call_soon is not None:
            self._call_soon(self._flush)

    def _refuse(self, event_type: str, size: int) -> bool:
        """Store an ``error`` instead of an event over ``max_event_bytes`` (its type and size,
        never its content); with the ``"end"`` policy also ``done{error}``. True: end the run."""
        limit = self._max_bytes
        shown = truncate(event_type, 60)
        logger.warning(
            "stream %s: refused a %s event of %d bytes (max_event_bytes=%d, oversize=%r)",
            self.stream_id,
            shown,
            size,
            limit,
            self._oversize,
        )
        ends = self._oversize == "end"
        error = Error(
            error_type="event-too-large",
            message=(
                f"the agent produced a {shown} event of {size} bytes, over this server's "
                f"max_event_bytes={limit}; it was not sent"
                + (" and the run ended" if ends else ", and the run goes on without it")
            ),
            details={
                "code": "event-too-large",
                "event_type": event_type[:200],
                "size_bytes": size,
                "max_event_bytes": limit,
                "policy": self._oversize,
            },
        )
        self._queue("error", encode_data(error))
        if ends:
            self._queue("done", encode_data(Done(reason="error")))
            self._cut = True
        return ends

    def _flush(self) -> None:
        queue = self._pending
        if not queue:
            return
        # The queue stays the same list (the producer's hot path keeps a reference to it).
        pending = queue[:]
        queue.clear()
        first = self._seq + 1
        self._seq += len(pending)
        self._append_nowait(self.stream_id, first, pending)
        if self._recorder is not None:
            self._recorded(first, pending)
        observer = self._observer
        if observer is not None and (self._noted or observer.waiting):
            noted, self._noted = self._noted, []
            observer.stored(noted)

    def _observed(self) -> tuple[int, int]:
        """Events stored so far and how many were tokens (exact after each flush)."""
        return self._seq, max(self._seq - self._others, 0)

    def _recorded(self, first: int, pending: list[tuple[str, bytes]]) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        # Events stored together were produced without the run suspending: one timestamp.
        elapsed_ms = (time.monotonic() - self._started_at) * 1000.0
        for seq, (event_type, data) in enumerate(pending, first):
            recorder(self.stream_id, seq, event_type, data, elapsed_ms)

    async def emit(self, event: KnownEvent) -> None:
        """Store ``event`` now, from the agent's code between two of its items (``ask()``).

        Raises UsageError ``event-too-large`` when the event is over ``max_event_bytes`` (after
        storing the error that replaces it): nobody will see it, so nobody will answer it.
        """
        data = encode_data(event)
        refused = len(data) > self._max_bytes and not self._done_seen
        self._add(event.type, data)
        self._flush()
        if refused:
            raise UsageError(
                f"a {event.type!r} event of {len(data)} bytes is over max_event_bytes="
                f"{self._max_bytes}; it was not sent (make it smaller, e.g. summarise it)",
                code="event-too-large",
            )

    async def drive(self) -> None:
        """Run the source to its end (or cancellation) and store exactly one ``done``.

        :meth:`cancel` cancels the task awaiting this; that cancellation ends it normally.
        """
        if self._task is not None:
            raise UsageError(f"run {self.stream_id!r} is already being driven", code="run-driven")
        task = self._task = asyncio.current_task()
        if task is None:  # pragma: no cover - a coroutine always runs in a task on asyncio
            raise UsageError("Run.drive() needs an asyncio task", code="invalid-backend")
        call_soon = self._call_soon = asyncio.get_running_loop().call_soon
        if self._cancel_requested:  # cancelled before it started
            self._end(self._cancel_reason)
            return
        # The whole run in one coroutine: a waiting run holds every frame of its task.
        reason: DoneReason = "completed"
        try:
            try:
                decoder: SSEDecoder | None = None
                count = 0
                add, pending, encode = self._add, self._pending, _ENCODE
                slow, counted = self._slow_types, self._counted_types
                max_bytes = self._max_bytes
                items = aiter(self.source)
                async for item in items:
                    count += 1
                    if count > _YIELD_EVERY:
                        # a source that never suspends would starve connections
                        count = 1
                        self._flush()
                        await anyio.lowlevel.checkpoint()
                    if isinstance(item, _FRAME_TYPES):
                        # one whole frame per item (the emitter's way) is one regex match;
                        # anything else, and all that follows it, goes through the decoder
                        text = item.decode() if isinstance(item, bytes) else item
                        frame = parse_frame(text) if decoder is None else None
                        if frame is not None:
                            add(frame[0], _checked(frame[0], frame[1].encode()))
                        else:
                            if decoder is None:
                                # generous: a frame over the run's limit is refused as an
                                # event (typed error) unless it is too big even to parse
                                decoder = SSEDecoder(max_event_bytes=4 * max_bytes)
                            chunk = item if isinstance(item, bytes) else text.encode()
                            for event_type, json_text, _, _ in decoder.feed_frames(chunk):
                                add(event_type, _checked(event_type, json_text.encode()))
                        if self._cut:
                            break
                        continue
                    event_type = item.type
                    if event_type in slow or self._done_seen or type(item) is UnknownEvent:
                        if (
                            event_type not in counted
                            or self._done_seen
                            or type(item) is UnknownEvent
                        ):
                            add(event_type, encode_data(item))
                            if self._cut:
                                break
                            continue
                        self._others += 1  # thinking, progress, ... of an observed run
                    # Hot path of _add for a typed event (most are tokens).
                    try:
                        data = encode(item)
                    except UnicodeEncodeError:
                        # encode_data raises the UsageError naming the fix
                        data = encode_data(item)
                    if len(data) > max_bytes:
                        if event_type in counted:
                            self._others -= 1  # _refuse counts what it stores instead
                        if self._refuse(event_type, len(data)):
                            break
                    else:
                        pending.append((event_type, data))
                        if len(pending) == 1:
                            call_soon(self._flush)
                if self._cut:
                    reason = "error"
                    self._flush()
                    aclose = getattr(items, "aclose", None)
                    if aclose is not None:
                        await aclose()  # the agent's finally runs; nothing it yields is kept
                elif decoder is not None:
                    for event in decoder.close():
                        add(event.event, _checked(event.event, event.data.encode()))
                self._flush()
            except Exception as exc:  # the one place an agent's crash becomes error + done
                logger.warning(
                    "agent of stream %s raised %s: %s",
                    self.stream_id,
                    type(exc).__name__,
                    truncate(str(exc), 200),
                    exc_info=self.debug,
                )
                if not self._done_seen:
                    self._fail(exc)
                reason = "error"
        except asyncio.CancelledError:
            reason = self._cancel_reason
            if not self._was_cancelled():
                raise
            task.uncancel()  # our own cancel (stop, policy, shutdown) ends the run normally
        except BaseException:
            reason = self._cancel_reason
            raise
        finally:
            self._end(reason)

    def _fail(self, exc: Exception) -> None:
        details: dict[str, JSONValue] = {}
        if self.debug:
            details["traceback"] = "".join(traceback.format_exception(exc))
        error = Error(
            error_type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            details=details,
        )
        self._add("error", encode_data(error))
        self._flush()

    def _end(self, reason: DoneReason) -> None:
        try:
            self._flush()  # what the agent produced before it stopped comes first
            if not self._done_seen:
                self._add("done", encode_data(Done(reason=reason)))
                self._flush()
        finally:
            self._finished = True
            if self._observer is not None:
                self._observer.finished(reason)
            if self._finished_event is not None:
                self._finished_event.set()
            if self._grace_timer is not None:
                self._grace_timer.cancel()
                self._grace_timer = None
            if self._on_finish is not None:
                self._on_finish(self)

    def _readers_changed(self, count: int) -> None:
        """The store counted ``count`` readers of this stream, in every process (a connection
        or an open question, wherever it is); apply the disconnect policy when none is left.

        With ``grace`` a timer cancels the run unless a reader attaches, anywhere, within
        ``resume_grace_s``.
        """
        had, self.readers = self.readers, count
        if count > 0:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
                self._grace_timer = None
            return
        if had == 0 or self._finished or self.disconnect == "detach":
            return
        if self.disconnect == "cancel":
            self.cancel()
        elif self._grace_timer is None:
            loop = asyncio.get_running_loop()
            self._grace_timer = loop.call_later(self.resume_grace_s, self._grace_over)

    def _grace_over(self) -> None:
        self._grace_timer = None
        if self.readers == 0 and not self._finished:
            logger.info(
                "stream %s: no client re-attached within %ss; cancelling the run",
                self.stream_id,
                self.resume_grace_s,
            )
            self.cancel()


def report_failure(task: asyncio.Task[None]) -> None:
    """Done callback of a run's task: log what escaped it (nothing should)."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("run task failed", exc_info=task.exception())
