"""``MemoryStore``: the default replay store, in this process's memory.

Bounded per stream (``max_events``, ``max_bytes``: the oldest events are trimmed) and in total
(``max_total_bytes``: ended streams are evicted oldest first, then the growing stream is
trimmed). A stream is forgotten ``ttl_s`` after its ``done``. Nothing survives the process;
use ``RedisStore`` to resume across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from ..errors import ResumeError, UsageError
from .store import (
    INTERRUPTED_END,
    ReadResult,
    StopOutcome,
    StoredEvent,
    StreamInfo,
    check_cursor,
    read_waiting,
)

__all__ = ["MemoryStore"]

_NO_META: Mapping[str, str] = MappingProxyType({})
_new_result = tuple.__new__


class _Stream:
    __slots__ = (
        "base_seq",
        "events",
        "is_done",
        "meta",
        "nbytes",
        "on_readers",
        "on_stop",
        "owner",
        "readers",
        "waiters",
    )

    def __init__(self, owner: str, meta: Mapping[str, str]) -> None:
        self.owner = owner
        self.meta: Mapping[str, str] = dict(meta) if meta else _NO_META
        # (type, data) tuples of interned names and bytes: the GC untracks them after one
        # look, so a long stream costs it little.
        self.events: list[StoredEvent] = []
        self.base_seq = 1  # seq of events[0]
        self.nbytes = 0
        self.is_done = False
        self.waiters: list[asyncio.Future[None]] | None = None  # readers waiting for more
        self.readers = 0  # attached readers (connections, open questions)
        # the producer's (its run's) callbacks; dropped at done
        self.on_readers: Callable[[int], None] | None = None
        self.on_stop: Callable[[], None] | None = None

    @property
    def last_seq(self) -> int:
        return self.base_seq + len(self.events) - 1

    def wake(self) -> None:
        waiters = self.waiters
        if waiters is None:
            return
        self.waiters = None
        for future in waiters:
            if not future.done():
                future.set_result(None)


def _nothing() -> None:
    """The ``detach`` of a reader of a stream that has ended (nothing to count)."""


def _size(events: Sequence[StoredEvent]) -> int:
    return sum([len(data) for _, data in events])


class MemoryStore:
    """In-process :class:`~agent_stream.server.store.StreamStore` (one per app, not global)."""

    def __init__(
        self,
        *,
        max_events: int = 100_000,
        max_bytes: int = 32 << 20,
        max_total_bytes: int = 512 << 20,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_events < 1 or max_bytes < 1 or max_total_bytes < 1 or ttl_s < 0:
            raise UsageError("MemoryStore bounds must be positive", code="invalid-option")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_total_bytes = max_total_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._ended: OrderedDict[str, float] = OrderedDict()  # stream id -> expiry, in done order
        self._keys: dict[str, tuple[str, float]] = {}
        self._total_bytes = 0
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def total_bytes(self) -> int:
        """Bytes of event data held over all streams."""
        return self._total_bytes

    def __len__(self) -> int:
        return len(self._streams)

    def _expire(self) -> None:
        now = self._clock()
        while self._ended:
            stream_id, expiry = next(iter(self._ended.items()))
            if expiry > now:
                break
            self._drop(stream_id)

    def _sweep(self) -> None:
        """Drop expired streams, then wake up again when the next one expires.

        Without it an ended stream's frames stayed until the next request touched the store.
        Streams end in expiry order (one ``ttl_s``), so one timer at a time suffices.
        """
        self._sweeper = None
        self._expire()
        self._arm_sweeper()

    def _arm_sweeper(self) -> None:
        if self._sweeper is not None or not self._ended:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # appended outside a loop (tests): requests still expire them
            return
        expiry = next(iter(self._ended.values()))
        self._sweeper = loop.call_later(max(0.0, expiry - self._clock()), self._sweep)

    def _drop(self, stream_id: str) -> None:
        self._ended.pop(stream_id, None)
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._total_bytes -= stream.nbytes
            stream.wake()

    def _get(self, stream_id: str) -> _Stream:
        self._expire()
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ResumeError(f"no stream {stream_id!r} here (unknown or expired)")
        return stream

    async def create(
        self, stream_id: str, *, owner: str, meta: Mapping[str, str] | None = None
    ) -> None:
        self._expire()
        if stream_id in self._streams:
            raise UsageError(f"stream {stream_id!r} already exists", code="stream-exists")
        self._streams[stream_id] = _Stream(owner, meta or {})

    async def append(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        for index, (event_type, _) in enumerate(events):
            if event_type == "done":
                events = events[: index + 1]
                break
        self.append_nowait(stream_id, first_seq, events)

    def append_nowait(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        """Append synchronously: readable at once."""
        if not events:
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            raise UsageError(f"append to unknown stream {stream_id!r}", code="unknown-stream")
        if stream.is_done:
            raise UsageError(
                f"stream {stream_id!r} ended with 'done'; nothing can follow it",
                code="append-after-done",
            )
        expected = stream.base_seq + len(stream.events)
        if first_seq != expected:
            raise UsageError(
                f"stream {stream_id!r} expects seq {expected}, got {first_seq}",
                code="seq-gap",
            )
        if events[-1][0] == "done":
            stream.is_done = True
            stream.on_readers = stream.on_stop = None
            self._ended[stream_id] = self._clock() + self.ttl_s
            self._arm_sweeper()
        added = len(events[0][1]) if len(events) == 1 else _size(events)
        stream.events.extend(events)
        stream.nbytes += added
        self._total_bytes += added
        if len(stream.events) > self.max_events or stream.nbytes > self.max_bytes:
            self._trim(stream, self.max_events, self.max_bytes)
        if self._total_bytes > self.max_total_bytes:
            self._evict(stream_id, stream)
        stream.wake()

    def _trim(self, stream: _Stream, max_events: int, max_bytes: int) -> None:
        # Trim in chunks of 1/8 so that a full stream does not pay an O(n) delete per append.
        events = stream.events
        cut = max(0, len(events) - max_events)
        if cut:
            cut = min(len(events) - 1, cut + max_events // 8)
        removed = _size(events[:cut])
        while stream.nbytes - removed > max_bytes and cut < len(events) - 1:
            removed += len(events[cut][1])
            cut += 1
        if cut:
            del events[:cut]
            stream.base_seq += cut
            stream.nbytes -= removed
            self._total_bytes -= removed

    def _evict(self, stream_id: str, stream: _Stream) -> None:
        for ended_id in list(self._ended):
            if self._total_bytes <= self.max_total_bytes:
                return
            if ended_id != stream_id:
                self._drop(ended_id)
        excess = self._total_bytes - self.max_total_bytes
        if excess > 0:
            self._trim(stream, len(stream.events), max(1, stream.nbytes - excess))

    async def read(
        self, stream_id: str, after_seq: int, *, limit: int = 4096, wait_s: float = 0.0
    ) -> ReadResult:
        if wait_s > 0:
            return await read_waiting(self, stream_id, after_seq, limit=limit, wait_s=wait_s)
        return self.read_nowait(stream_id, after_seq, limit=limit)

    def read_nowait(self, stream_id: str, after_seq: int, *, limit: int = 4096) -> ReadResult:
        """``read`` without waiting; never ``None`` (everything is in this process)."""
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.is_done:
            # Hot path: a live connection reading what is new (an open stream never expires).
            base, events = stream.base_seq, stream.events
            last_seq = base + len(events) - 1
            if base <= after_seq + 1 and after_seq <= last_seq:
                start = after_seq + 1 - base
                # tuple.__new__: a ReadResult without a Python-level __new__ call per read
                return _new_result(ReadResult, (events[start : start + limit], False, last_seq))
        stream = self._get(stream_id)
        check_cursor(stream_id, after_seq, last_seq=stream.last_seq, earliest_seq=stream.base_seq)
        start = after_seq + 1 - stream.base_seq
        return ReadResult(stream.events[start : start + limit], stream.is_done, stream.last_seq)

    def watch(self, stream_id: str, after_seq: int, future: asyncio.Future[None]) -> bool:
        """Resolve ``future`` at the stream's next append, end or expiry; False (and nothing
        to resolve) when there is already more after ``after_seq``, or it ended or is gone."""
        stream = self._streams.get(stream_id)
        if (
            stream is None
            or stream.is_done
            or after_seq != stream.base_seq + len(stream.events) - 1
        ):
            return False
        waiters = stream.waiters
        if waiters is None:
            stream.waiters = [future]
            return True
        if len(waiters) >= 8:
            # an idle reader's futures are resolved by its heartbeats, not by appends
            waiters = stream.waiters = [f for f in waiters if not f.done()]
        waiters.append(future)
        return True

    def on_give_up(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Never called: a MemoryStore never gives a stream up."""

    def attach(self, stream_id: str) -> Callable[[], None]:
        """Count a reader of ``stream_id``; the producer's ``on_readers`` hears of it at once."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.is_done:
            return _nothing
        stream.readers += 1
        if stream.on_readers is not None:
            stream.on_readers(stream.readers)
        detached = False

        def detach() -> None:
            nonlocal detached
            if detached:
                return
            detached = True
            stream.readers -= 1
            if stream.on_readers is not None:
                stream.on_readers(stream.readers)

        return detach

    def on_readers(self, stream_id: str, callback: Callable[[int], None]) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.is_done:
            stream.on_readers = callback
            if stream.readers:
                callback(stream.readers)

    def on_stop(self, stream_id: str, callback: Callable[[], None]) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.is_done:
            stream.on_stop = callback

    async def request_stop(self, stream_id: str, *, timeout_s: float = 5.0) -> StopOutcome:
        """Call the producer's ``on_stop`` (it is in this process); a stream nobody produces
        any more gets the interrupted end."""
        stream = self._get(stream_id)
        if stream.is_done:
            return "ended"
        callback = stream.on_stop
        if callback is None:
            self.append_nowait(stream_id, stream.last_seq + 1, INTERRUPTED_END)
            return "interrupted"
        callback()  # the run's cancel: asking again while it winds down changes nothing
        return "stopped"

    async def info(self, stream_id: str) -> StreamInfo | None:
        self._expire()
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        return StreamInfo(
            stream_id=stream_id,
            owner=stream.owner,
            last_seq=stream.last_seq,
            earliest_seq=stream.base_seq,
            is_done=stream.is_done,
            meta=stream.meta,
        )

    async def bind_key(self, key: str, stream_id: str, *, ttl_s: float) -> str:
        now = self._clock()
        bound = self._keys.get(key)
        if bound is not None and bound[1] > now and bound[0] in self._streams:
            return bound[0]
        if len(self._keys) > 4 * max(16, len(self._streams)):
            self._keys = {k: v for k, v in self._keys.items() if v[1] > now}
        self._keys[key] = (stream_id, now + ttl_s)
        return stream_id

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for stream_id in list(self._streams):
            self._drop(stream_id)
        self._keys.clear()
