"""``RedisStore``: streams in Redis Streams, so a resume can land on any process.

Needs the ``redis`` extra (``pip install 'agent-event-stream[redis]'``); redis-py is imported when a
store is made, never at import time.

Keys, all under ``prefix`` (two apps or tenants with different prefixes never see each other's
streams); ``{<sid>}`` is a Redis Cluster hash tag, so one stream's keys share a slot:

- ``<prefix>:{<sid>}:events`` the stream: entry id ``<seq>-0``, fields ``t`` (type), ``d``
  (data); ``XADD ... MAXLEN ~ max_events``. A cursor ``<sid>:<seq>`` reads ``XRANGE (<seq>-0``
  and follows with ``XREAD BLOCK`` from the last delivered id (never ``$``).
- ``<prefix>:{<sid>}:meta`` a hash: ``owner``, ``last`` (seq), ``done``, ``c`` (the create's nonce),
  ``m:<key>`` metadata.
- ``<prefix>:{<sid>}:lease`` the producer's lease (``SET PX``, renewed by this store while the
  run is live here). When it lapses before ``done``, the first reader to notice appends
  ``error{interrupted}`` + ``done{interrupted}`` in one Lua script, so every reader sees the same
  ending.
- ``<prefix>:idem:<digest>`` idempotency keys (``SET NX PX ... GET``).

Appends are batched: a run's events go to an in-process queue (``append_nowait``) and one
background task writes whatever is pending, for every local stream, in one pipeline of Lua
scripts. An event becomes readable (from this process's tail cache or from Redis) only once
Redis has acknowledged it, so nothing is sent that a restart of this process could lose; with
``min_replicas_acked=n``, only once ``n`` replicas have it too (``WAIT``), so nothing is sent
that a failover to a replica could lose.

On a Redis Cluster (``?cluster=1``, see ``redis_cluster``) each stream lives on the node of its
hash tag's slot; the streams spread over the masters.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .._extras import install_hint
from ..errors import ResumeError, StoreUnavailableError, UsageError
from ..events import EVENT_TYPES
from .redis_cluster import ReplicaWait, make_clients, transient_errors
from .redis_signals import READERS_LAPSE, RedisSignals
from .redis_signals import SCRIPTS as SIGNAL_SCRIPTS
from .store import (
    INTERRUPTED_END,
    ReadResult,
    StopOutcome,
    StoredEvent,
    StreamInfo,
    check_cursor,
    read_waiting,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline
    from redis.asyncio.cluster import ClusterPipeline, RedisCluster

    from .redis_questions import RedisQuestionBoard

__all__ = ["RedisStore"]

logger = logging.getLogger("agent_stream")

_MISSING = f"RedisStore needs redis: {install_hint('redis')}"
_T = TypeVar("_T")
_BATCH_MAX = 4096  # events per script call: bounds how long one call holds Redis
_RANGE_MAX = 1024  # events per replay read: the first bytes of a long replay go out sooner
# A live stream's keys are renewed while its producer runs: when they vanish anyway, Redis lost
# them, and that (not a lapsed lease, not an expiry) is what the log must say.
_GONE = (
    "its data is gone from Redis although this process kept it alive: Redis lost it "
    "(restarted without persistence, flushed, evicted it or failed over to a replica without it)"
)
_HEALTH_CHECK_S = 5.0  # a pooled connection idle this long is PINGed before its next command

# KEYS: events, meta, lease. ARGV: first seq, count, maxlen, ttl ms, is_done, the events'
# types joined with LF, their data joined with LF (data is single-line JSON, types are tokens).
# Returns {status, last}: 1 stored, 0 already stored (a retry after a lost reply or too few
# replicas' acknowledgements), -1 unknown stream, -2 already ended, -3 seq gap. A retry writes
# 'last' again: a WAIT after it on this connection then covers the events stored before.
_APPEND = r"""
local last = tonumber(redis.call('HGET', KEYS[2], 'last'))
if last == nil then return {-1, 0} end
local first = tonumber(ARGV[1])
if first + tonumber(ARGV[2]) - 1 <= last then
  redis.call('HSET', KEYS[2], 'last', last)
  return {0, last}
end
if redis.call('HGET', KEYS[2], 'done') == '1' then return {-2, last} end
if first > last + 1 then return {-3, last} end
local types, datas, tpos, dpos, seq = ARGV[6], ARGV[7], 1, 1, first
for _ = 1, tonumber(ARGV[2]) do
  local tstop = string.find(types, '\n', tpos, true) or #types + 1
  local dstop = string.find(datas, '\n', dpos, true) or #datas + 1
  if seq > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq .. '-0',
      't', string.sub(types, tpos, tstop - 1), 'd', string.sub(datas, dpos, dstop - 1))
  end
  tpos, dpos, seq = tstop + 1, dstop + 1, seq + 1
end
last = seq - 1
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[2], 'last', last, 'done', '1')
  redis.call('DEL', KEYS[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  redis.call('HSET', KEYS[2], 'last', last)
end
return {1, last}
"""

# KEYS: events, meta, lease. ARGV: maxlen, ttl ms, error data, done data.
# Appends the interrupted ending once: only if the stream exists, has not ended and its lease
# has lapsed. Returns 1 when it appended, 0 otherwise, -1 for an unknown stream.
_INTERRUPT = r"""
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('HGET', KEYS[2], 'done') == '1' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[2], 'last'))
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], (last + 1) .. '-0', 't', 'error', 'd', ARGV[3])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], (last + 2) .. '-0', 't', 'done', 'd', ARGV[4])
redis.call('HSET', KEYS[2], 'last', last + 2, 'done', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: events, meta. ARGV: first seq wanted, count, '1' to write 'last' again (a WAIT after
# it on this connection then covers every event read: see min_replicas_acked).
# Returns {last, done, seq of the first event, how many, their types joined with LF, their data
# joined with LF} in one reply (two bulk strings parse far faster than XRANGE's nested
# entries), or {-1} for an unknown stream.
_RANGE = r"""
local meta = redis.call('HMGET', KEYS[2], 'last', 'done')
if not meta[1] then return {-1} end
if ARGV[3] == '1' then redis.call('HSET', KEYS[2], 'last', meta[1]) end
local entries = redis.call('XRANGE', KEYS[1], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
local types, datas, first = {}, {}, 0
for i, entry in ipairs(entries) do
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 't' then types[i] = fields[j + 1] else datas[i] = fields[j + 1] end
  end
end
if #entries > 0 then first = tonumber(string.match(entries[1][1], '^%d+')) end
return {tonumber(meta[1]), meta[2], first, #entries,
  table.concat(types, '\n'), table.concat(datas, '\n')}
"""

# KEYS: events, meta, lease, readers. ARGV: token, lease ms, keys ttl ms.
# Renews a live stream's lease and the keys' safety expiry, drops lapsed readers; returns
# {1, readers version, readers in other processes, the asker of a pending stop or ''}, {0}
# when the stream has ended, {-1} when it is gone: either way its producer must stop.
_RENEW = (
    r"""
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local meta = redis.call('HMGET', KEYS[2], 'done', 'stop', 'rv')
if meta[1] == '1' then return {0} end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
"""
    + READERS_LAPSE
    + r"""
local rv = tonumber(meta[3] or '0')
if lapsed > 0 then rv = redis.call('HINCRBY', KEYS[2], 'rv', 1) end
return {1, rv, redis.call('ZCARD', KEYS[4]), meta[2] or ''}
"""
)

# KEYS: events, meta, lease. ARGV: owner, token, lease ms, keys ttl ms, nonce, meta pairs...
# 1 created (or created by this very call before: redis-py resends a command whose connection
# broke, and the nonce tells that resend apart from another create of the same id), 0 taken.
_CREATE = r"""
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('HGET', KEYS[2], 'c') == ARGV[5] then return 1 end
  return 0
end
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'last', 0, 'done', '0', 'c', ARGV[5])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], 'm:' .. ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: events, meta, lease. ARGV: owner digest.
# {-1} for an unknown stream and for another owner's alike (one HGET either way: no timing
# tells them apart), else {1, the meta hash's fields and values, the first entry's id or '',
# 1 if the lease is held}.
_OWNED = r"""
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] then return {-1} end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
return {1, redis.call('HGETALL', KEYS[2]), first and first[1] or '', redis.call('EXISTS', KEYS[3])}
"""

(_, _INTERRUPTED_ERROR), (_, _INTERRUPTED_DONE) = INTERRUPTED_END
_TYPE_NAMES = {name.encode(): name for name in EVENT_TYPES}  # one str per known type
_SCRIPTS = {
    "append": _APPEND,
    "interrupt": _INTERRUPT,
    "renew": _RENEW,
    "create": _CREATE,
    "range": _RANGE,
    "owned": _OWNED,
    **SIGNAL_SCRIPTS,
}
_SHA = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SCRIPTS.items()}


class _ScriptsMissing(Exception):
    """Redis answered NOSCRIPT (it restarted and lost its script cache): load, then retry."""


def _import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return redis


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


_flag.__name__ = "flag (1/0, true/false, yes/no)"


def _nodes(value: str) -> tuple[str, ...]:
    nodes = tuple(node.strip() for node in value.split(",") if node.strip())
    for node in nodes:
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(value)
    return nodes


_nodes.__name__ = "list of host:port"

_URL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "cluster": _flag,
    "cluster_nodes": _nodes,
    "min_replicas_acked": int,
    "prefix": str,
    "max_events": int,
    "ttl_s": float,
    "lease_s": float,
    "op_timeout_s": float,
    "append_retry_s": float,
    "retry_after_s": float,
}


def _split_store_options(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without this store's query options, and those options parsed."""
    parts = urllib.parse.urlsplit(url)
    kept, options = [], {}
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        convert = _URL_OPTIONS.get(name)
        if convert is None:
            kept.append((name, value))
            continue
        try:
            options[name] = convert(value)
        except ValueError:
            raise UsageError(
                f"{name}={value!r} in the Redis URL is not a valid {convert.__name__}",
                code="invalid-option",
            ) from None
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept))), options


def _name(event_type: bytes) -> str:
    return _TYPE_NAMES.get(event_type) or event_type.decode()


@dataclass(eq=False)
class _Local:
    """A stream this process produces: its unacknowledged queue and acknowledged tail."""

    keys: tuple[str, str, str]
    pending: list[StoredEvent] = field(default_factory=list)
    pending_is_done: bool = False  # the last pending event is the stream's done
    acked: int = 0  # seq of the last event Redis has; pending[0] is acked + 1
    tail: list[StoredEvent] = field(default_factory=list)  # events up to ``acked``
    is_done: bool = False
    is_abandoned: bool = False
    failing_since: float | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)  # resolved by wake()
    on_give_up: Callable[[], None] | None = None  # the run's: cancel the agent
    on_readers: Callable[[int], None] | None = None  # the run's: its disconnect policy
    on_stop: Callable[[], None] | None = None  # the run's: cancel the agent
    readers: int = 0  # attached in this process
    remote_readers: int = 0  # attached in others, as of version readers_rv (redis_signals)
    readers_rv: int = -1
    reported_readers: int = 0  # the last total told to on_readers

    @property
    def tail_first(self) -> int:
        return self.acked - len(self.tail) + 1

    def wait(self) -> asyncio.Future[None]:
        """A future resolved at the next acknowledgement, end or give-up."""
        future = asyncio.get_running_loop().create_future()
        self.add_waiter(future)
        return future

    def add_waiter(self, future: asyncio.Future[None]) -> None:
        waiters = self.waiters
        if len(waiters) >= 8:
            # an idle reader's futures are resolved by its heartbeats, not by appends
            waiters[:] = [f for f in waiters if not f.done()]
        waiters.append(future)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


class RedisStore:
    """:class:`~agent_stream.server.store.StreamStore` on Redis Streams (one per app).

    ``client`` is a ``redis.asyncio.Redis`` made with ``decode_responses=False``; prefer
    :meth:`from_url`, which sets the timeouts this store relies on. Bounds: ``max_events`` per
    stream (approximate ``MAXLEN``), ``ttl_s`` retention after ``done``, ``lease_s`` producer
    lease (a dead producer's stream gets its interrupted end within 2 x ``lease_s``).
    ``op_timeout_s`` bounds every Redis call (then :class:`StoreUnavailableError`, HTTP 503
    with ``Retry-After: retry_after_s``); a producer retries appends, and a waiting ``ask()`` its
    question's reads and writes, for ``append_retry_s`` before it gives up.

    ``client`` may be a ``redis.asyncio.cluster.RedisCluster`` (``from_url(...,
    cluster=True)``). ``min_replicas_acked=n``: an event is readable (sent) only once ``n``
    replicas of its node acknowledged it (``WAIT n op_timeout_s``); fewer count as a failed
    write, retried for ``append_retry_s``. It costs one replication round trip per batch and
    stalls appends while a node has fewer than ``n`` replicas; it is what makes a failover to
    a replica lose no event a client has seen.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        blocking_client: Redis | RedisCluster | None = None,
        prefix: str = "agent-stream",
        max_events: int = 100_000,
        ttl_s: float = 300.0,
        lease_s: float = 5.0,
        op_timeout_s: float = 1.0,
        append_retry_s: float = 10.0,
        retry_after_s: float = 1.0,
        tail_events: int = 4096,
        max_pending_events: int = 200_000,
        min_replicas_acked: int = 0,
    ) -> None:
        if (
            max_events < 1
            or ttl_s < 0
            or lease_s <= 0
            or op_timeout_s <= 0
            or min_replicas_acked < 0
        ):
            raise UsageError("RedisStore bounds must be positive", code="invalid-option")
        if not prefix or any(c in prefix for c in "{}\r\n "):
            raise UsageError(
                f"prefix {prefix!r} must be non-empty, without braces or whitespace",
                code="invalid-option",
            )
        redis = _import_redis()
        self._errors = transient_errors(redis)
        self._client = client
        self._blocking = blocking_client if blocking_client is not None else client
        self.prefix = prefix
        self.max_events = max_events
        self.ttl_s = ttl_s
        self.lease_s = lease_s
        self.op_timeout_s = op_timeout_s
        self.append_retry_s = append_retry_s
        self.retry_after_s = retry_after_s
        self.tail_events = max(0, min(tail_events, max_events))
        self.max_pending_events = max_pending_events
        self.min_replicas_acked = min_replicas_acked
        self._replica_wait = (
            ReplicaWait(client, min_replicas_acked, self._ms(op_timeout_s))
            if min_replicas_acked
            else None
        )
        self._token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError
        self._local: dict[str, _Local] = {}
        self._abandoned: OrderedDict[str, None] = OrderedDict()  # recent given-up streams
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        # readers waiting for another process's stream, by (stream id, cursor)
        self._followers: dict[tuple[str, int], list[asyncio.Future[None]]] = {}
        self._follow_tasks: set[asyncio.Task[None]] = set()
        self._found: dict[tuple[str, int], ReadResult] = {}  # a follower's XREAD, for its readers
        self._closing = False
        self._questions: RedisQuestionBoard | None = None
        self.signals = RedisSignals(self)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str | None = None,
        op_timeout_s: float | None = None,
        max_connections: int = 512,
        cluster: bool | None = None,
        cluster_nodes: Sequence[str] | None = None,
        **options: Any,
    ) -> RedisStore:
        """A store on the Redis at ``url``, e.g.
        ``RedisStore.from_url("redis://127.0.0.1:6379/0", prefix="myapp")``.

        Store options may also ride in the URL's query (``?prefix=myapp&lease_s=2&ttl_s=60``;
        keyword arguments win), so a single ``--redis URL`` configures every worker.
        ``cluster=True`` (``?cluster=1``) talks to a Redis Cluster, ``url`` naming any of its
        nodes and ``cluster_nodes`` (``?cluster_nodes=h2:6379,h3:6379``) more of them, so a
        worker that starts while one is down still finds the cluster; ``max_connections`` is
        then per node.
        Connections time out after ``op_timeout_s``; redis-py retries a command once, at once,
        only when its pooled connection was closed under it (a Redis restart), and PINGs a
        connection idle for ``_HEALTH_CHECK_S`` before using it. ``XREAD BLOCK`` uses a second
        pool.
        """
        _import_redis()
        url, from_query = _split_store_options(url)
        options = {**from_query, **options}
        if prefix is not None:
            options["prefix"] = prefix
        if op_timeout_s is not None:
            options["op_timeout_s"] = op_timeout_s
        in_url = bool(options.pop("cluster", False))
        seeds = options.pop("cluster_nodes", ())
        client, blocking = make_clients(
            url,
            cluster=in_url if cluster is None else cluster,
            seeds=seeds if cluster_nodes is None else tuple(cluster_nodes),
            timeout_s=float(options.get("op_timeout_s", 1.0)),
            max_connections=max_connections,
            health_check_s=_HEALTH_CHECK_S,
        )
        return cls(client, blocking_client=blocking, **options)

    # Keys and calls

    def _keys(self, stream_id: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{stream_id}}}"
        return f"{base}:events", f"{base}:meta", f"{base}:lease"

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"Redis is unavailable ({type(exc).__name__}: {exc}); retry shortly",
            retry_after_s=self.retry_after_s,
        )

    async def _call(self, call: Callable[[], Awaitable[_T]], timeout_s: float | None = None) -> _T:
        try:
            with anyio.fail_after(timeout_s or self.op_timeout_s):
                return await call()
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        async def call() -> Any:
            try:
                return await self._client.evalsha(_SHA[name], len(keys), *keys, *args)
            except self._no_script:
                await self._client.script_load(_SCRIPTS[name])
                return await self._client.evalsha(_SHA[name], len(keys), *keys, *args)

        return await self._call(call)

    async def _scripts(
        self,
        name: str,
        calls: Sequence[tuple[Sequence[str], Sequence[Any]]],
        timeout_s: float,
        *,
        wait: ReplicaWait | None = None,
    ) -> list[Any]:
        """Run script ``name`` once per (keys, args) in one pipeline; replies in order. With
        ``wait``, each reply is paired with whether enough replicas acknowledged its writes."""

        async def run() -> list[Any]:
            if wait is not None:
                await wait.ready()
            pipe: Pipeline | ClusterPipeline
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    # a command, not pipe.evalsha (which redis-py's cluster pipeline blocks)
                    pipe.execute_command("EVALSHA", _SHA[name], len(keys), *keys, *args)
                first_keys = [keys[0] for keys, _ in calls]
                nodes = wait.queue(pipe, first_keys) if wait is not None else []
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            if wait is None:
                return replies
            acked = wait.acked(first_keys, nodes, replies[len(calls) :])
            return list(zip(replies[: len(calls)], acked, strict=True))

        def unpaired(replies: list[Any]) -> list[Any]:
            return [reply[0] for reply in replies] if wait is not None else replies

        replies = await self._call(run, timeout_s)
        if any(isinstance(reply, self._no_script) for reply in unpaired(replies)):
            # SCRIPT LOAD reaches every master of a cluster
            await self._call(lambda: self._client.script_load(_SCRIPTS[name]))
            replies = await self._call(run, timeout_s)
        for reply in unpaired(replies):
            if isinstance(reply, self._errors):
                raise self._unavailable(reply)
        return replies

    def _ms(self, seconds: float) -> int:
        return max(1, round(seconds * 1000))

    @property
    def _keys_ttl_ms(self) -> int:
        # A live stream's keys outlive a dead producer by its retention: nothing leaks.
        return self._ms(self.ttl_s + 3 * self.lease_s)

    def is_producing(self, stream_id: str) -> bool:
        """True while this store writes ``stream_id`` (created here, not ended, not given up)."""
        return stream_id in self._local

    def on_give_up(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` soon after this store gives ``stream_id`` up (Redis stayed down
        past ``append_retry_s``, too many events queued, or it ended elsewhere); at once if
        it already has. Its run cancels the agent: later events would be dropped."""
        local = self._local.get(stream_id)
        if local is not None:
            local.on_give_up = callback
        elif stream_id in self._abandoned:
            asyncio.get_running_loop().call_soon(callback)

    def attach(self, stream_id: str) -> Callable[[], None]:
        """Count a reader; in another process than the producer's, it is registered in
        Redis in the background (a lease renewed with the producers' leases)."""
        return self.signals.attach(stream_id)

    def on_readers(self, stream_id: str, callback: Callable[[int], None]) -> None:
        local = self._local.get(stream_id)
        if local is not None:
            local.on_readers = callback
            if local.reported_readers:
                callback(local.reported_readers)

    def on_stop(self, stream_id: str, callback: Callable[[], None]) -> None:
        local = self._local.get(stream_id)
        if local is not None:
            local.on_stop = callback

    async def request_stop(self, stream_id: str, *, timeout_s: float = 5.0) -> StopOutcome:
        """Ask the producer, wherever it runs, to stop (over its pub/sub channel, with a flag
        its lease renewal also reads); returns once it acknowledged."""
        return await self.signals.request_stop(stream_id, timeout_s)

    def _wake_writer(self) -> None:
        if not self._closing:
            self._ensure_writer()
            self._wake.set()

    def question_board(self) -> RedisQuestionBoard:
        """The app's board of open questions (``ask()``), on this store's Redis and prefix."""
        if self._questions is None:
            from .redis_questions import RedisQuestionBoard

            self._questions = RedisQuestionBoard(
                self._client,
                blocking_client=self._blocking,
                prefix=self.prefix,
                op_timeout_s=self.op_timeout_s,
                retry_s=self.append_retry_s,
            )
        return self._questions

    # StreamStore

    async def create(
        self, stream_id: str, *, owner: str, meta: Mapping[str, str] | None = None
    ) -> None:
        keys = self._keys(stream_id)
        args: list[str | int] = [
            owner,
            self._token,
            self._ms(self.lease_s),
            self._keys_ttl_ms,
            secrets.token_hex(8),
        ]
        for name, value in (meta or {}).items():
            args += [name, value]
        created = await self._script("create", keys, args)
        if not created:
            raise UsageError(f"stream {stream_id!r} already exists", code="stream-exists")
        self._local[stream_id] = _Local(keys)
        self._ensure_writer()
        await self.signals.listen()  # once per process: readers and stops reach it

    def append_nowait(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        """Queue events for the writer; they become readable once Redis has them."""
        local = self._local.get(stream_id)
        if local is None or local.is_abandoned:
            if stream_id in self._abandoned:
                return  # given up (Redis was down too long): its lease lapses, readers see the end
            raise UsageError(
                f"append to stream {stream_id!r}, which this process does not produce",
                code="unknown-stream",
            )
        if not events:
            return
        expected = local.acked + len(local.pending) + 1
        if first_seq != expected or local.pending_is_done or local.is_done:
            raise UsageError(
                f"stream {stream_id!r} expects seq {expected} next, got {first_seq}"
                + (" after its done" if local.pending_is_done or local.is_done else ""),
                code="seq-gap",
            )
        local.pending.extend(events)
        local.pending_is_done = events[-1][0] == "done"
        if len(local.pending) > self.max_pending_events:
            self._abandon(stream_id, local, "too many events waiting for Redis")
            return
        self._wake.set()

    async def append(self, stream_id: str, first_seq: int, events: Sequence[StoredEvent]) -> None:
        """Store ``events``; returns once Redis has acknowledged them."""
        for index, (event_type, data) in enumerate(events):
            if b"\n" in data or b"\r" in data:
                raise UsageError(
                    f"event {first_seq + index} of {stream_id!r}: data must be one line of "
                    "JSON (encode it with agent_stream.events.encode_data)",
                    code="invalid-event",
                )
            if event_type == "done":
                events = events[: index + 1]
                break
        if not events:
            return
        local = self._local.get(stream_id)
        self.append_nowait(stream_id, first_seq, events)
        last = first_seq + len(events) - 1
        while local is not None and local.acked < last and not local.is_abandoned:
            await local.wait()
        if local is None or local.acked < last:
            raise StoreUnavailableError(
                f"stream {stream_id!r} could not be stored; Redis stayed unavailable",
                retry_after_s=self.retry_after_s,
            )

    async def read(
        self, stream_id: str, after_seq: int, *, limit: int = 4096, wait_s: float = 0.0
    ) -> ReadResult:
        if wait_s > 0:
            return await read_waiting(self, stream_id, after_seq, limit=limit, wait_s=wait_s)
        result = self.read_nowait(stream_id, after_seq, limit=limit)
        if result is None:
            result = await self._read_range(stream_id, after_seq, limit)
        return result

    def read_nowait(
        self, stream_id: str, after_seq: int, *, limit: int = 4096
    ) -> ReadResult | None:
        """From this process's tail of a stream it produces; ``None``: Redis must be read."""
        local = self._local.get(stream_id)
        if local is not None:
            return self._read_tail(local, after_seq, limit)
        found = self._found.get((stream_id, after_seq))
        if found is None or len(found.events) > limit:
            return None
        return found

    def watch(self, stream_id: str, after_seq: int, future: asyncio.Future[None]) -> bool:
        """Resolve ``future`` when an event after ``after_seq`` is stored (or the stream
        ends or is given up). A stream produced here is woken by the writer; another
        process's is followed with ``XREAD BLOCK`` until ``future`` is resolved."""
        local = self._local.get(stream_id)
        if local is not None:
            if after_seq != local.acked or local.is_done:
                return False
            local.add_waiter(future)
            return True
        # Another process's run: one follower per (stream, cursor), shared by its readers
        # and kept across their heartbeats (each of which resolves their futures).
        key = (stream_id, after_seq)
        waiters = self._followers.get(key)
        if waiters is None:
            waiters = self._followers[key] = []
            task = asyncio.get_running_loop().create_task(
                self._follow(key, waiters), name="agent-stream follow"
            )
            self._follow_tasks.add(task)
            task.add_done_callback(self._follow_tasks.discard)
        waiters.append(future)
        return True

    async def _follow(self, key: tuple[str, int], waiters: list[asyncio.Future[None]]) -> None:
        # Each block ends within half a lease, so a lapsed lease is noticed (and the
        # interrupted end appended) well within 2 x lease_s; with no reader left waiting,
        # the follower ends after its block.
        stream_id, after_seq = key
        found = False
        try:
            while any(not future.done() for future in waiters):
                entries = await self._xread(stream_id, after_seq, _RANGE_MAX, self.lease_s / 2)
                if entries:
                    # what XREAD brought answers the readers' next read_nowait (if nothing
                    # was trimmed in between: then their read raises the typed error), unless
                    # replicas must have it first: then their read asks Redis and WAITs
                    first = int(entries[0][0].split(b"-", 1)[0])
                    if first == after_seq + 1 and self._replica_wait is None:
                        events = [(_name(fields[b"t"]), fields[b"d"]) for _, fields in entries]
                        is_done = events[-1][0] == "done"
                        self._found[key] = ReadResult(events, is_done, after_seq + len(events))
                        found = True
                    break
                if await self._interrupt_if_lapsed(stream_id) != 0:
                    break  # appended the interrupted end, or the stream is gone
        except StoreUnavailableError as exc:
            logger.debug("stream %s: following it failed: %s", stream_id, exc)
            # the readers' next read gets the error
        finally:
            del self._followers[key]
            for future in waiters:
                if not future.done():
                    future.set_result(None)
            if found:  # after the readers it wakes have read it
                asyncio.get_running_loop().call_soon(self._found.pop, key, None)

    @staticmethod
    def _read_tail(local: _Local, after_seq: int, limit: int) -> ReadResult | None:
        # None: the tail cannot answer (the cursor is before it, or past what Redis has)
        if after_seq == local.acked:
            return ReadResult((), local.is_done, local.acked)
        start = after_seq + 1 - local.tail_first
        if after_seq > local.acked or start < 0:
            return None
        return ReadResult(local.tail[start : start + limit], local.is_done, local.acked)

    async def _read_range(self, stream_id: str, after_seq: int, limit: int) -> ReadResult:
        events_key, meta_key, _ = self._keys(stream_id)
        count = min(limit, _RANGE_MAX)
        wait = self._replica_wait
        if wait is None:
            reply = await self._script("range", (events_key, meta_key), (after_seq + 1, count))
        else:
            # send only what a failover cannot take back: what the replicas have too
            calls = [((events_key, meta_key), (after_seq + 1, count, 1))]
            ((reply, replicated),) = await self._scripts(
                "range", calls, 2 * self.op_timeout_s, wait=wait
            )
            if isinstance(reply, Exception):
                raise reply
            if not replicated and reply[0] != -1:
                raise StoreUnavailableError(
                    f"stream {stream_id!r}: fewer than {self.min_replicas_acked} replica(s) "
                    f"acknowledged within {self.op_timeout_s:g}s; retry shortly",
                    retry_after_s=self.retry_after_s,
                )
        if reply[0] == -1:
            raise ResumeError(
                f"no stream {stream_id!r} here (unknown or expired)",
                last_event_id=f"{stream_id}:{after_seq}",
            )
        last_raw, done_raw, first, count, types, datas = reply
        last = int(last_raw)
        events = (
            list(zip(map(_name, types.split(b"\n")), datas.split(b"\n"), strict=True))
            if count
            else []
        )
        check_cursor(
            stream_id, after_seq, last_seq=last, earliest_seq=first if events else last + 1
        )
        return ReadResult(events, done_raw == b"1", last)

    async def _xread(
        self, stream_id: str, after_seq: int, limit: int, block_s: float
    ) -> Sequence[Any]:
        events_key = self._keys(stream_id)[0]

        async def call() -> Sequence[Any]:
            reply: Any = await self._blocking.xread(
                {events_key: f"{after_seq}-0"}, count=limit, block=self._ms(block_s)
            )
            if not reply:
                return ()
            entries: Sequence[Any] = reply[0][1]
            return entries

        return await self._call(call, block_s + self.op_timeout_s)

    async def _interrupt_if_lapsed(self, stream_id: str) -> int:
        # 1: appended the interrupted end; 0: the stream is live or ended; -1: it is gone
        args = [self.max_events, self._ms(self.ttl_s), _INTERRUPTED_ERROR, _INTERRUPTED_DONE]
        appended = await self._script("interrupt", self._keys(stream_id), args)
        if appended == 1:
            logger.info("stream %s: its producer's lease lapsed; ended as interrupted", stream_id)
        return int(appended)

    async def info(self, stream_id: str) -> StreamInfo | None:
        events_key, meta_key, lease_key = self._keys(stream_id)

        async def call() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hgetall(meta_key)
                pipe.xrange(events_key, "-", "+", count=1)
                pipe.exists(lease_key)
                result: list[Any] = await pipe.execute()
                return result

        for _ in range(2):
            fields, first, has_lease = await self._call(call)
            if not fields:
                return None
            if not await self._ended_if_lapsed(stream_id, fields, has_lease):
                break
        return self._stream_info(stream_id, fields, first[0][0] if first else b"")

    async def owned_info(self, stream_id: str, owner: str) -> StreamInfo | None:
        """:meth:`info` of a stream ``owner`` (a digest) owns, else ``None``: an unknown and
        another owner's stream cost one identical script call and reply (no timing oracle)."""
        keys = self._keys(stream_id)
        for _ in range(2):
            reply = await self._script("owned", keys, (owner,))
            if reply[0] == -1:
                return None
            _, flat, first_id, has_lease = reply
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            if not await self._ended_if_lapsed(stream_id, fields, has_lease):
                break
        return self._stream_info(stream_id, fields, first_id)

    async def _ended_if_lapsed(
        self, stream_id: str, fields: Mapping[bytes, bytes], has_lease: int
    ) -> bool:
        # True: the producer's lease had lapsed and this appended the interrupted end (read
        # the stream again)
        if fields.get(b"done") == b"1" or has_lease or stream_id in self._local:
            return False
        return await self._interrupt_if_lapsed(stream_id) == 1

    @staticmethod
    def _stream_info(stream_id: str, fields: Mapping[bytes, bytes], first_id: bytes) -> StreamInfo:
        last = int(fields[b"last"])
        return StreamInfo(
            stream_id=stream_id,
            owner=fields[b"owner"].decode(),
            last_seq=last,
            earliest_seq=int(first_id.split(b"-", 1)[0]) if first_id else last + 1,
            is_done=fields.get(b"done") == b"1",
            meta={k[2:].decode(): v.decode() for k, v in fields.items() if k.startswith(b"m:")},
        )

    async def bind_key(self, key: str, stream_id: str, *, ttl_s: float) -> str:
        name = f"{self.prefix}:{key}"
        ttl_ms = self._ms(ttl_s)
        previous: Any = await self._call(
            lambda: self._client.set(name, stream_id, nx=True, px=ttl_ms, get=True)
        )
        return stream_id if previous is None else str(previous.decode())

    async def aclose(self) -> None:
        """Write what is still queued (bounded by ``op_timeout_s`` per try), then disconnect."""
        self._closing = True
        for task in list(self._follow_tasks):
            task.cancel()
        if self._questions is not None:
            await self._questions.aclose()
        with anyio.move_on_after(self.op_timeout_s):
            await self.signals.detach_all()
        await self.signals.aclose()
        writer, self._writer = self._writer, None
        if writer is not None:
            self._wake.set()
            with anyio.move_on_after(self.append_retry_s + 2 * self.op_timeout_s):
                await asyncio.shield(writer)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        await self._client.aclose()
        if self._blocking is not self._client:
            await self._blocking.aclose()

    # The writer: batches appends and renews leases

    def _ensure_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _abandon(
        self,
        stream_id: str,
        local: _Local,
        why: str,
        *,
        readers_get: str = "the interrupted end once its lease lapses",
    ) -> None:
        logger.warning(
            "stream %s: giving it up (%s); %d event(s) not stored; readers get %s",
            stream_id,
            why,
            len(local.pending),
            readers_get,
        )
        local.is_abandoned = True
        self._abandoned[stream_id] = None
        while len(self._abandoned) > 4096:
            self._abandoned.popitem(last=False)
        local.pending.clear()
        local.tail.clear()
        self._local.pop(stream_id, None)
        local.wake()
        callback, local.on_give_up = local.on_give_up, None
        if callback is not None:
            # never inside the run's own append (it may be mid-flush)
            asyncio.get_running_loop().call_soon(callback)

    async def _write_loop(self) -> None:
        renew_every_s = self.lease_s / 3
        next_renew = time.monotonic() + renew_every_s
        backoff_s = 0.0
        while self._local or not self._closing:
            if not self.signals.pending and not any(
                local.pending for local in self._local.values()
            ):
                if self._closing:
                    return
                with anyio.move_on_after(max(0.0, next_renew - time.monotonic())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if time.monotonic() >= next_renew:
                    await self._renew()
                    await self.signals.renew()
                    if self._local:  # a channel lost to a Redis restart: subscribe again
                        await self.signals.listen()
                    next_renew = time.monotonic() + renew_every_s
                await self.signals.write_pending()
                await self._write_pending()
                backoff_s = 0.0
            except StoreUnavailableError as exc:
                now = time.monotonic()
                for stream_id, local in list(self._local.items()):
                    if local.pending:
                        if local.failing_since is None:
                            local.failing_since = now
                        elif now - local.failing_since > self.append_retry_s:
                            self._abandon(stream_id, local, f"Redis unavailable: {exc}")
                backoff_s = min(1.0, max(0.05, backoff_s * 2))
                logger.info("Redis write failed (%s); retrying in %.2fs", exc, backoff_s)
                await anyio.sleep(backoff_s)
                if self._closing and not self._local:
                    return
            except Exception:
                logger.exception("RedisStore writer failed; restarting it")
                await anyio.sleep(0.1)

    async def _renew(self) -> None:
        streams = [(sid, local) for sid, local in self._local.items() if not local.is_done]
        if not streams:
            return
        args = [self._token, self._ms(self.lease_s), self._keys_ttl_ms]
        calls = [((*local.keys, self.signals.readers_key(sid)), args) for sid, local in streams]
        replies = await self._scripts("renew", calls, self.op_timeout_s)
        for (stream_id, local), reply in zip(streams, replies, strict=True):
            if self._local.get(stream_id) is not local or local.is_done:
                continue
            if reply[0] == -1:
                self._abandon(stream_id, local, _GONE, readers_get="no stream (404)")
                continue
            if reply[0] == 0:
                self._abandon(stream_id, local, "it ended elsewhere (its lease had lapsed)")
                continue
            _, readers_rv, remote_readers, stop_asker = reply
            self.signals.remote_readers(stream_id, int(readers_rv), int(remote_readers))
            if stop_asker:  # a stop whose message was lost
                self.signals.stop_asked(stream_id)

    async def _write_pending(self) -> None:
        while True:
            batch = [
                (stream_id, local, len(local.pending[:_BATCH_MAX]))
                for stream_id, local in self._local.items()
                if local.pending
            ]
            if not batch:
                return
            maxlen, ttl_ms = self.max_events, self._ms(self.ttl_s)
            calls: list[tuple[Sequence[str], Sequence[Any]]] = []
            for _, local, count in batch:
                is_done = local.pending_is_done and count == len(local.pending)
                batch_events = local.pending[:count]
                types = "\n".join([event_type for event_type, _ in batch_events])
                datas = b"\n".join([data for _, data in batch_events])
                args = (local.acked + 1, count, maxlen, ttl_ms, int(is_done), types, datas)
                calls.append((local.keys, args))
            wait = self._replica_wait
            replies = await self._scripts(
                "append", calls, (3 if wait else 2) * self.op_timeout_s, wait=wait
            )
            unreplicated = 0
            for (stream_id, local, count), answer in zip(batch, replies, strict=True):
                reply, replicated = answer if wait is not None else (answer, True)
                if self._local.get(stream_id) is not local:
                    continue
                if isinstance(reply, Exception):
                    self._abandon(stream_id, local, f"Redis refused the append: {reply}")
                    continue
                status = int(reply[0])
                if status == -1:
                    self._abandon(stream_id, local, _GONE, readers_get="no stream (404)")
                    continue
                if status < 0:
                    reason = {-2: "it already ended", -3: "seq gap"}
                    self._abandon(stream_id, local, reason.get(status, str(status)))
                    continue
                if not replicated:
                    unreplicated += 1  # stored on the master only: sent once replicas have it
                    continue
                self._acked(stream_id, local, count)
            if unreplicated:
                raise StoreUnavailableError(
                    f"{unreplicated} stream(s): fewer than {self.min_replicas_acked} "
                    f"replica(s) acknowledged within {self.op_timeout_s:g}s",
                    retry_after_s=self.retry_after_s,
                )

    def _acked(self, stream_id: str, local: _Local, count: int) -> None:
        events = local.pending[:count]
        del local.pending[:count]
        local.failing_since = None
        local.acked += count
        if not local.pending and local.pending_is_done:
            local.is_done = True
        if self.tail_events:
            local.tail.extend(events)
            excess = len(local.tail) - self.tail_events
            if excess > self.tail_events // 8:
                del local.tail[:excess]
        if local.is_done:
            # readers of an ended stream go to Redis; nothing more to write or renew here
            self._local.pop(stream_id, None)
        local.wake()
