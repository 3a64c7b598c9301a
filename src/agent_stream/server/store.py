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

A run's producer may live in another process than the requests about its stream (RedisStore),
so the store also carries what those requests tell the producer, never per event:

- ``attach`` counts a reader (an open connection, an open question) of a stream in any process;
  the producer's process learns the total through ``on_readers`` (the disconnect policy).
- ``request_stop`` delivers a stop to the producer wherever it runs (``on_stop``) and returns
  once the producer has acknowledged it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, TypeAlias, runtime_checkable

from ..errors import ResumeError
from ..events import Done, Error, encode_data

__all__ = [
    "INTERRUPTED_END",
    "OwnerCheckingStore",
    "ReadResult",
    "StopOutcome",
    "StoredEvent",
    "StreamInfo",
    "StreamStore",
    "check_cursor",
    "read_waiting",
    "wait_done",
]


StopOutcome: TypeAlias = Literal["stopped", "ended", "interrupted"]
"""What ``request_stop`` achieved: the producer acknowledged the stop (``stopped``); the stream
had already ended (``ended``); its producer was gone, so the stream now ends as interrupted."""

StoredEvent: TypeAlias = tuple[str, bytes]
"""One stored event: its type and its compact, single-line JSON data; its seq is its place."""


INTERRUPTED_END: tuple[StoredEvent, StoredEvent] = (
    (
        "error",
        encode_data(
            Error(
                error_type="interrupted",
                message="the process running this stream's agent stopped before it finished",
            )
        ),
    ),
    ("done", encode_data(Done(reason="interrupted"))),
)
"""How a stream whose producer is gone ends (PROTOCOL 7): the same two events in every store."""


class ReadResult(NamedTuple):
    """What ``read`` found: the events after the cursor, in seq order (``events[0]`` is event
    ``after_seq + 1``), whether the stream has ended, and its last seq."""

    events: Sequence[StoredEvent]
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
    """Replay buffer shared by a run (producer) and its connections (consumers). asyncio only.

    It holds events, ``(type, data)`` with compact single-line JSON ``data``, never wire bytes
    (:mod:`agent_stream.framing` writes those per response). A run appends with
    :meth:`append_nowait`: the events it produced while its task ran
    without suspending are appended together just before it suspends, so no connection can
    see (or send) anything out of order, and the per-event cost stays small. A connection reads
    with :meth:`read_nowait` (falling back to :meth:`read` when that needs I/O) and, once it
    has caught up, hands :meth:`watch` a future to resolve at the next change, racing it
    against its heartbeat and the client's disconnect with one ``await``.
    """

    async def create(
        self, stream_id: str, *, owner: str, meta: Mapping[str, str] | None = None
    ) -> None:
        """Register a new, empty stream. Raises UsageError if ``stream_id`` is taken."""
        ...

    async def append(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        """Store ``events`` (seqs from ``first_seq``) at the end of the stream; returns once
        stored. A ``done`` among them ends the stream (nothing after it is stored)."""
        ...

    def append_nowait(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        """Like ``append`` without waiting (the run's way); readable once stored. Only the
        last event may be ``done``."""
        ...

    async def read(
        self, stream_id: str, after_seq: int, *, limit: int = 4096, wait_s: float = 0.0
    ) -> ReadResult:
        """Up to ``limit`` events with seq > ``after_seq``, waiting up to ``wait_s`` for one."""
        ...

    def read_nowait(
        self, stream_id: str, after_seq: int, *, limit: int = 4096
    ) -> ReadResult | None:
        """Like ``read`` with ``wait_s=0``, synchronously; ``None`` when answering needs I/O
        (then call ``read``)."""
        ...

    def watch(self, stream_id: str, after_seq: int, future: asyncio.Future[None]) -> bool:
        """Resolve ``future`` (unless done) at the stream's next append, end or expiry.

        Returns False, and keeps nothing, when a read after ``after_seq`` would not wait:
        there is more, the stream ended, or it is gone. A store that waits with I/O stops
        waiting when the caller resolves or cancels ``future`` itself.
        """
        ...

    def on_give_up(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, soon after (never inside) the store gives ``stream_id`` up
        while its run is live (RedisStore: Redis stayed down past ``append_retry_s``, or the
        stream was ended elsewhere); at once (soon) if it already has. The store then drops
        the stream's appends and its readers get the interrupted end."""
        ...

    def attach(self, stream_id: str) -> Callable[[], None]:
        """Count one reader of ``stream_id`` until the returned ``detach()`` is called (again:
        nothing). Never waits: a store shared by processes registers the reader in the
        background, with a lease its process renews, so a reader whose process died lapses."""
        ...

    def on_readers(self, stream_id: str, callback: Callable[[int], None]) -> None:
        """The producer's process: call ``callback(count)`` whenever the number of readers
        of ``stream_id``, over every process, changes (a lapsed reader within a lease)."""
        ...

    def on_stop(self, stream_id: str, callback: Callable[[], None]) -> None:
        """The producer's process: call ``callback`` when any process asks ``stream_id`` to
        stop (:meth:`request_stop`); the store acknowledges once it returned."""
        ...

    async def request_stop(self, stream_id: str, *, timeout_s: float = 5.0) -> StopOutcome:
        """Deliver a stop to ``stream_id``'s producer, wherever it runs.

        Returns once the producer's ``on_stop`` callback ran (``"stopped"``), or at once when
        the stream had ended (``"ended"``) or has no producer any more (``"interrupted"``: it
        ends with ``error{interrupted}`` + ``done{interrupted}``). Raises ResumeError
        ``unknown-stream`` for an unknown stream and StoreUnavailableError ``stop-undelivered``
        when a live producer did not acknowledge within ``timeout_s``.
        """
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
class OwnerCheckingStore(Protocol):
    """A store that checks a stream's owner itself (RedisStore), so that another owner's
    stream and an unknown one cost the same work: no timing tells them apart (PROTOCOL 5.2)."""

    async def owned_info(self, stream_id: str, owner: str) -> StreamInfo | None:
        """:meth:`StreamStore.info` of the stream if ``owner`` (its stored digest) owns it;
        ``None`` for an unknown, expired or another owner's stream, with the same I/O."""
        ...


async def read_waiting(
    store: StreamStore, stream_id: str, after_seq: int, *, limit: int, wait_s: float
) -> ReadResult:
    """``read`` in terms of ``read_nowait`` and ``watch``: what every store's ``read`` does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        result = store.read_nowait(stream_id, after_seq, limit=limit)
        if result is None:
            result = await store.read(stream_id, after_seq, limit=limit)
        remaining = deadline - loop.time()
        if result.events or result.is_done or remaining <= 0:
            return result
        future = loop.create_future()
        if store.watch(stream_id, after_seq, future):
            timer = loop.call_later(remaining, _resolve, future)
            try:
                await future
            finally:
                timer.cancel()
                if not future.done():
                    future.cancel()


async def wait_done(store: StreamStore, stream_id: str, after_seq: int) -> None:
    """Return once ``stream_id`` has ended (its ``done`` is stored), reading from ``after_seq``
    on. Unbounded: the caller sets the deadline."""
    while True:
        result = await store.read(stream_id, after_seq, limit=_RANGE_LIMIT, wait_s=_WAIT_S)
        if result.is_done:
            return
        after_seq += len(result.events)


_RANGE_LIMIT = 4096
_WAIT_S = 5.0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
