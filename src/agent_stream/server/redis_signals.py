"""What requests in one process tell the run producing a stream in another: readers and stops.

Part of :class:`~agent_stream.server.redis.RedisStore` (it owns one ``RedisSignals``). Keys and
channels, beside the stream's (``{<sid>}`` keeps them in its Redis Cluster slot):

- ``<prefix>:{<sid>}:readers`` a sorted set of the readers attached in *other* processes than
  the producer's (the producer counts its own in memory): member ``<token>:<n>``, score the
  expiry (Redis ``TIME``, ms). Each process renews its readers every ``lease_s / 3``; a reader
  whose process died lapses after ``lease_s``. ``rv`` in the stream's meta hash counts the
  changes, so the producer keeps the newest count whichever way it came.
- ``stop`` / ``stopped`` in the meta hash: the token of the process asking the run to stop,
  and ``1`` once the producer has acknowledged a stop.
- ``<prefix>:proc:<token>`` each process's pub/sub channel: ``r <sid> <rv> <count>`` (the
  readers changed) and ``s <sid>`` (stop) to the producer, ``a <sid>`` (stop acknowledged)
  to the asker. Messages only make things prompt: the producer's lease renewal also reads
  the count and the stop flag (``RedisStore._renew``), and an asker polls ``stopped``, so a
  lost message costs latency, never a stop or a count.

It works on its store's internals (keys, scripts, writer): they are one thing in two files.
Nothing here runs per event: one script per attach, detach and stop, and per renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import ResumeError, StoreUnavailableError
from .redis_cluster import pubsub as make_pubsub
from .store import StopOutcome

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

    from .redis import RedisStore, _Local

__all__ = ["SCRIPTS", "RedisSignals"]

logger = logging.getLogger("agent_stream")


async def close_pubsub(pubsub: PubSub) -> None:
    """Close a redis-py pub/sub connection (typed on every redis-py the extra allows).

    ``PubSub.aclose`` carries annotations only from redis-py 8.2; binding it to a typed name
    first keeps ``mypy --strict`` quiet on older and newer releases alike.
    """
    aclose: Callable[[], Awaitable[None]] = pubsub.aclose
    await aclose()


_STOP_POLL_S = 0.25  # an asker re-reads ``stopped`` this often when no message came

# Expiry in ms on Redis's clock, and dropping lapsed readers: shared by the scripts below and
# the lease renewal (redis.py). Sets ``now`` and ``lapsed`` (how many were dropped).
READERS_LAPSE = r"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lapsed = redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
"""

# KEYS: events, meta, lease, readers. ARGV: member, ttl ms (0: detach), channel prefix, sid,
# keys ttl ms. Attaches (or renews) or detaches one reader of a live stream; when the set
# changed, counts the change and tells the producer. 1 done, 0 the stream ended or is gone.
_READER = (
    r"""
if redis.call('HGET', KEYS[2], 'done') ~= '0' then return 0 end
"""
    + READERS_LAPSE
    + r"""
local changed = lapsed
if ARGV[2] == '0' then
  changed = changed + redis.call('ZREM', KEYS[4], ARGV[1])
else
  changed = changed + redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
if changed == 0 then return 1 end
local rv = redis.call('HINCRBY', KEYS[2], 'rv', 1)
local producer = redis.call('GET', KEYS[3])
if producer then
  local count = redis.call('ZCARD', KEYS[4])
  redis.call('PUBLISH', ARGV[3] .. producer, 'r ' .. ARGV[4] .. ' ' .. rv .. ' ' .. count)
end
return 1
"""
)

# KEYS: meta, lease. ARGV: channel prefix, sid, the asker's token.
# 1 asked (the producer told), 0 already ended, -1 unknown stream, -2 no producer (lease lapsed).
_STOP = r"""
local done = redis.call('HGET', KEYS[1], 'done')
if not done then return -1 end
if done == '1' then return 0 end
local producer = redis.call('GET', KEYS[2])
if not producer then return -2 end
redis.call('HSET', KEYS[1], 'stop', ARGV[3])
redis.call('PUBLISH', ARGV[1] .. producer, 's ' .. ARGV[2])
return 1
"""

# KEYS: meta. ARGV: channel prefix, sid. The producer has stopped its run: say so, and wake
# the asker. 1 acknowledged, 0 nobody was asking.
_STOP_ACK = r"""
local asker = redis.call('HGET', KEYS[1], 'stop')
if not asker or asker == '' then return 0 end
redis.call('HSET', KEYS[1], 'stop', '', 'stopped', '1')
redis.call('PUBLISH', ARGV[1] .. asker, 'a ' .. ARGV[2])
return 1
"""

SCRIPTS = {"reader": _READER, "stop": _STOP, "stop_ack": _STOP_ACK}


class RedisSignals:
    """Readers and stops between the processes of one :class:`RedisStore` (its ``signals``)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self.channels = f"{store.prefix}:proc:"
        self._channel = self.channels + store._token
        self._ids = itertools.count(1)
        self.readers: dict[str, str] = {}  # member -> stream id: attached here, renewed here
        # member -> (stream id, attach?), in order; written by the store's writer
        self.pending: OrderedDict[str, tuple[str, bool]] = OrderedDict()
        self._askers: dict[str, set[asyncio.Event]] = {}  # stream id -> waiting stoppers
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribing: asyncio.Lock | None = None

    def readers_key(self, stream_id: str) -> str:
        return f"{self._store.prefix}:{{{stream_id}}}:readers"

    # Readers

    def attach(self, stream_id: str) -> Callable[[], None]:
        local = self._store._local.get(stream_id)
        if local is not None:
            return self._attach_local(stream_id, local)
        member = f"{self._store._token}:{next(self._ids)}"
        self.readers[member] = stream_id
        self.pending[member] = (stream_id, True)
        self._store._wake_writer()

        def detach() -> None:
            if self.readers.pop(member, None) is not None:
                self.pending[member] = (stream_id, False)
                self._store._wake_writer()

        return detach

    def _attach_local(self, stream_id: str, local: _Local) -> Callable[[], None]:
        local.readers += 1
        self.report(local)
        detached = False

        def detach() -> None:
            nonlocal detached
            if not detached:
                detached = True
                local.readers -= 1
                if self._store._local.get(stream_id) is local:
                    self.report(local)

        return detach

    @staticmethod
    def report(local: _Local) -> None:
        """Tell the run the total, if it changed."""
        total = local.readers + local.remote_readers
        if total != local.reported_readers:
            local.reported_readers = total
            if local.on_readers is not None:
                local.on_readers(total)

    def remote_readers(self, stream_id: str, rv: int, count: int) -> None:
        """The producer learned the other processes' readers (a message or its renewal)."""
        local = self._store._local.get(stream_id)
        if local is None or rv <= local.readers_rv:
            return
        local.readers_rv, local.remote_readers = rv, count
        self.report(local)

    def calls(self, members: list[tuple[str, str, bool]]) -> list[tuple[list[str], list[Any]]]:
        """The ``reader`` script calls for (member, stream id, attach?)."""
        store = self._store
        ttl_ms, keys_ttl_ms = store._ms(store.lease_s), store._keys_ttl_ms
        calls: list[tuple[list[str], list[Any]]] = []
        for member, stream_id, is_attach in members:
            keys = [*store._keys(stream_id), self.readers_key(stream_id)]
            args = [member, ttl_ms if is_attach else 0, self.channels, stream_id, keys_ttl_ms]
            calls.append((keys, args))
        return calls

    async def write_pending(self) -> None:
        """Send the attaches and detaches made since the last call (the store's writer)."""
        if not self.pending:
            return
        batch = list(self.pending.items())
        members = [(member, sid, is_attach) for member, (sid, is_attach) in batch]
        await self._store._scripts("reader", self.calls(members), self._store.op_timeout_s)
        for member, op in batch:
            if self.pending.get(member) == op:
                del self.pending[member]

    async def renew(self) -> None:
        """Renew the leases of this process's readers of other processes' streams."""
        members = [
            (member, sid, True)
            for member, sid in self.readers.items()
            if member not in self.pending
        ]
        if members:
            await self._store._scripts("reader", self.calls(members), self._store.op_timeout_s)

    async def detach_all(self) -> None:
        """At close: let the producers know now rather than when the leases lapse."""
        members = [(member, sid, False) for member, sid in self.readers.items()]
        self.readers.clear()
        self.pending.clear()
        if members:
            with contextlib.suppress(StoreUnavailableError):
                await self._store._scripts("reader", self.calls(members), self._store.op_timeout_s)

    # Stops

    def stop_asked(self, stream_id: str) -> None:
        """The producer: a stop for ``stream_id`` came (a message or its renewal)."""
        local = self._store._local.get(stream_id)
        if local is None or local.on_stop is None:
            return  # ended here already: the asker sees its done
        if local.pending_is_done or local.is_done:
            # the run has produced its done, on its way to Redis: the stream has ended, and the
            # asker, seeing that done, answers "ended" (an acknowledgement would say "stopped")
            return
        local.on_stop()
        task = asyncio.get_running_loop().create_task(self._acknowledge(stream_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, stream_id: str) -> None:
        meta_key = self._store._keys(stream_id)[1]
        try:
            await self._store._script("stop_ack", (meta_key,), (self.channels, stream_id))
        except StoreUnavailableError as exc:
            # the flag stays set: the next renewal sees it and acknowledges again
            logger.info("stream %s: acknowledging a stop failed (%s)", stream_id, exc)

    async def request_stop(self, stream_id: str, timeout_s: float) -> StopOutcome:
        store = self._store
        local = store._local.get(stream_id)
        if local is not None:
            if local.pending_is_done or local.is_done:
                return "ended"
            if local.on_stop is not None:
                local.on_stop()
            return "stopped"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await self.listen()
        woken = asyncio.Event()
        self._askers.setdefault(stream_id, set()).add(woken)
        _, meta_key, lease_key = store._keys(stream_id)
        try:
            for _ in range(2):
                asked = await store._script(
                    "stop", (meta_key, lease_key), (self.channels, stream_id, store._token)
                )
                if asked == -1:
                    raise _unknown(stream_id)
                if asked == 0:
                    return "ended"
                if asked == 1:
                    break
                interrupted = await store._interrupt_if_lapsed(stream_id)  # no producer
                if interrupted == 1:
                    return "interrupted"
                if interrupted == -1:
                    raise _unknown(stream_id)
            while True:
                fields = await store._call(lambda: store._client.hmget(meta_key, "stopped", "done"))
                stopped, done = fields
                if done is None:
                    raise _unknown(stream_id)
                if stopped == b"1":
                    return "stopped"
                if done == b"1":
                    return "ended"
                if await store._interrupt_if_lapsed(stream_id) == 1:
                    return "interrupted"  # the producer died before it saw the stop
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise StoreUnavailableError(
                        f"stream {stream_id!r}: its producer did not acknowledge the stop "
                        f"within {timeout_s:g}s; retry shortly",
                        retry_after_s=store.retry_after_s,
                        code="stop-undelivered",
                    )
                with anyio.move_on_after(min(remaining, _STOP_POLL_S)):
                    await woken.wait()
                woken.clear()
        finally:
            askers = self._askers.get(stream_id)
            if askers is not None:
                askers.discard(woken)
                if not askers:
                    del self._askers[stream_id]

    # The channel

    async def listen(self) -> None:
        """Subscribe to this process's channel unless subscribed; never raises (the
        renewals and polls work without it)."""
        if self._listener is not None and not self._listener.done():
            return
        if self._subscribing is None:
            self._subscribing = asyncio.Lock()
        async with self._subscribing:
            if self._store._closing or (self._listener is not None and not self._listener.done()):
                return
            await self._close_pubsub()
            pubsub: PubSub | None = None
            try:
                with anyio.fail_after(self._store.op_timeout_s):
                    pubsub = await make_pubsub(self._store._blocking)
                    await pubsub.subscribe(self._channel)
            except self._store._errors as exc:
                logger.info("stream signals: subscribing failed (%s); polling meanwhile", exc)
                if pubsub is not None:
                    await close_pubsub(pubsub)
                return
            self._pubsub = pubsub
            self._listener = asyncio.get_running_loop().create_task(
                self._read(pubsub), name="agent-stream signals"
            )

    async def _read(self, pubsub: PubSub) -> None:
        while not self._store._closing:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except self._store._errors as exc:
                logger.info("stream signals: channel lost (%s); polling meanwhile", exc)
                return
            if message is not None and message.get("type") == "message":
                self._dispatch(bytes(message["data"]).decode())

    def _dispatch(self, text: str) -> None:
        kind, _, rest = text.partition(" ")
        if kind == "r":
            stream_id, rv, count = rest.split(" ")
            self.remote_readers(stream_id, int(rv), int(count))
        elif kind == "s":
            self.stop_asked(rest)
        elif kind == "a":
            for woken in self._askers.get(rest, ()):
                woken.set()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._store._errors):
                await close_pubsub(pubsub)

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        tasks = [*self._tasks, *([listener] if listener is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_pubsub()
        for askers in self._askers.values():
            for woken in askers:
                woken.set()


def _unknown(stream_id: str) -> ResumeError:
    return ResumeError(f"no stream {stream_id!r} here (unknown or expired)")
