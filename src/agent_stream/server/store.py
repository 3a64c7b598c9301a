"""The replay store interface: where a run's events wait for the connections that read them.

A run appends every event to its stream *before* any byte of it is sent; each connection reads
after its own cursor at its own pace. The interface is small and async so that it maps onto
Redis Streams one call each: ``append`` ~ ``XADD``, ``read`` ~ ``XRANGE`` (exclusive start)
then ``XREAD BLOCK`` from the last delivered id, retention ~ ``EXPIRE`` after ``done``.

Semantics every implementation keeps:

- ``create`` registers a stream with its owner; ids are never reused while retained.
- ``append`` stores events in seq order. Appending a ``done`` closes the stream: the retention
  clock (``ttl_s``) starts and later appends raise :class:`~agent_stream.errors.UsageError`.
- ``read(after_seq)`` returns the events with seq > ``after_seq`` in order, or, when there are
  none yet and the stream is open, waits up to ``wait_s`` for some. A cursor before the oldest
  retained event raises :class:`~agent_stream.errors.ResumeError` ``expired`` naming the
  earliest id, never a silent partial replay; an unknown stream raises ``unknown-stream``.
- A store that cannot be reached raises :class:`~agent_stream.errors.StoreUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import asyncio

from ..emitter import encode_frame_bytes
from ..errors import ResumeError

__all__ = [
    "GivingUpStore",
    "LocalStore",
    "ReadResult",
    "StoredEvent",
    "StreamInfo",
    "StreamStore",
    "SyncAppendStore",
    "check_cursor",
]


class StoredEvent(NamedTuple):
    """One event of a stream: its seq, SSE event name, compact JSON data and wire frame."""

    seq: int
    type: str
    data: bytes
    frame: bytes

    @classmethod
    def build(cls, stream_id: str, seq: int, event_type: str, data: bytes) -> StoredEvent:
        """The event with its ``id: <stream_id>:<seq>`` frame encoded once."""
        return cls(
            seq, event_type, data, encode_frame_bytes(event_type, data, f"{stream_id}:{seq}")
        )


class ReadResult(NamedTuple):
    """What ``read`` found: the wire frames of the events after the cursor, in seq order
    (``frames[0]`` is event ``after_seq + 1``), and whether the stream has ended."""

    frames: Sequence[bytes]
    is_done: bool
    last_seq: int


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the store knows about a stream (its owner is re-checked on every resume)."""

    stream_id: str
    owner: str
    last_seq: int
    earliest_seq: int
    """Seq of the oldest event still retained (``last_seq + 1`` when none are)."""
    is_done: bool
    meta: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class StreamStore(Protocol):
    """Async replay buffer shared by a run (producer) and its connections (consumers)."""

    async def create(
        self, stream_id: str, *, owner: str, meta: Mapping[str, str] | None = None
    ) -> None:
        """Register a new, empty stream. Raises UsageError if ``stream_id`` is taken."""
        ...

    async def append(self, stream_id: str, events: Sequence[StoredEvent]) -> None:
        """Store ``events`` (consecutive seqs) at the end of the stream."""
        ...

    async def read(
        self, stream_id: str, after_seq: int, *, limit: int = 4096, wait_s: float = 0.0
    ) -> ReadResult:
        """Up to ``limit`` events with seq > ``after_seq``, waiting up to ``wait_s`` for one."""
        ...

    async def info(self, stream_id: str) -> StreamInfo | None:
        """The stream's owner and bounds; ``None`` for an unknown or expired stream."""
        ...

    async def bind_key(self, key: str, stream_id: str, *, ttl_s: float) -> str:
        """Bind an idempotency ``key`` to ``stream_id`` unless already bound; the bound id.

        Like ``SET key stream_id NX EX ttl`` followed by ``GET``: the first binder wins.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and timers."""
        ...


@runtime_checkable
class SyncAppendStore(Protocol):
    """A store that can also append without awaiting (in-process stores such as MemoryStore).

    A run then stores events in batches: those produced while its task runs without
    suspending are appended together just before it suspends, so no connection can see (or
    send) anything out of order, and the per-event cost stays small.
    """

    def append_frames_nowait(
        self, stream_id: str, first_seq: int, frames: Sequence[bytes], *, is_done: bool
    ) -> None:
        """Like ``append`` with the events' frames only, synchronously; ``is_done`` says the
        last frame is the stream's ``done``."""
        ...


@runtime_checkable
class LocalStore(Protocol):
    """A store in this process that can also be read without awaiting (MemoryStore).

    A connection on asyncio then needs no task of its own to wait for the store: it reads
    synchronously and, when it has caught up, hands the store a future to resolve at the next
    change, racing it against the heartbeat and the disconnect with one ``await``.
    """

    def read_nowait(self, stream_id: str, after_seq: int, *, limit: int = 4096) -> ReadResult:
        """Like ``read`` with ``wait_s=0``, synchronously."""
        ...

    def watch(self, stream_id: str, after_seq: int, future: asyncio.Future[None]) -> bool:
        """Resolve ``future`` (unless done) at the stream's next append, end or expiry.

        Returns False, and keeps nothing, when a read after ``after_seq`` would not wait:
        there is more, the stream ended, or it is gone.
        """
        ...


@runtime_checkable
class GivingUpStore(Protocol):
    """A store that may give up a stream while its run is still live (RedisStore, when Redis
    stays down past ``append_retry_s``, or the stream was ended elsewhere).

    It then drops that stream's later appends, so its run registers a callback and cancels the
    agent instead of running it to the end for nothing.
    """

    def on_give_up(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, soon after (never inside) the store gives ``stream_id`` up;
        at once (soon) if it already has."""
        ...


def check_cursor(stream_id: str, after_seq: int, *, last_seq: int, earliest_seq: int) -> None:
    """Raise :class:`ResumeError` unless every event after ``after_seq`` can be replayed.

    A cursor past the stream's last event is ``malformed-id``; one before the oldest retained
    event (``earliest_seq``) is ``expired`` and names the earliest id: never a partial replay.
    """
    if after_seq > last_seq:
        raise ResumeError(
            f"Last-Event-ID {stream_id}:{after_seq} is past the stream's last event "
            f"{stream_id}:{last_seq}",
            code="malformed-id",
            last_event_id=f"{stream_id}:{after_seq}",
        )
    if after_seq + 1 < earliest_seq:
        raise ResumeError(
            f"events after {stream_id}:{after_seq} were trimmed; the earliest available is "
            f"{stream_id}:{earliest_seq}",
            code="expired",
            last_event_id=f"{stream_id}:{after_seq}",
            earliest_id=f"{stream_id}:{earliest_seq}",
        )
