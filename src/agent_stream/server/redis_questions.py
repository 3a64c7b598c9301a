"""``RedisQuestionBoard``: open questions in Redis, so an answer posted to any worker reaches the
agent on the worker that produces its stream (no sticky sessions).

Made by ``RedisStore.question_board()`` on the store's clients and prefix. Keys and channels:

- ``<prefix>:{<sid>}:q:<request_id>`` a hash: ``event`` (the input_required JSON), ``exp``
  (expiry, ms since the epoch), ``max`` (the largest answer its run can store, bytes),
  ``state``, ``answer``, ``key`` (Idempotency-Key of the claim), ``ptoken`` / ``rtoken`` (the
  producing and the answering process), ``on`` / ``cn`` (the nonces of the open and the
  claim); it expires an hour after the question.
- ``<prefix>:questions:<token>`` each process's pub/sub channel: a claim publishes
  ``<sid> <request_id>`` to the producer's, a settlement to the answerer's. Messages only wake
  a waiter early; waiters re-read the hash every ``POLL_S`` too, so a lost message costs
  latency, never an answer.

Claim, expiry and settlement are Lua scripts: one atomic compare-and-set each. Settling reads
the stream's meta hash too (``<prefix>:{<sid>}:meta``, RedisStore's; same slot): a producer
never acknowledges an answer to a stream that has ended without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from ..errors import StoreUnavailableError, UsageError
from .question_board import POLL_S, Claim, QuestionRecord, QuestionState
from .redis_cluster import pubsub as make_pubsub
from .redis_cluster import transient_errors
from .redis_signals import close_pubsub

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.asyncio.cluster import RedisCluster

__all__ = ["RedisQuestionBoard"]

logger = logging.getLogger("agent_stream")

_T = TypeVar("_T")
_KEEP_MS = 3_600_000  # settled questions answer 409/410 (not 404) for an hour

# Each write carries a nonce: redis-py sends a command again when its connection broke before
# the reply (RedisStore.from_url), and a second run of the same call answers as the first did.

# KEYS: question. ARGV: event, exp ms, ptoken, keep ms, nonce, max. 1 created, 0 taken.
_OPEN = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'on') == ARGV[5] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'event', ARGV[1], 'exp', ARGV[2], 'state', 'open', 'ptoken', ARGV[3],
  'on', ARGV[5], 'max', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: question. ARGV: now ms, answer, key, rtoken, new state, channel prefix, message, nonce.
# 1 claimed (and the producer told), 0 not open or past its expiry, -1 unknown.
_CLAIM = r"""
local fields = redis.call('HMGET', KEYS[1], 'state', 'exp', 'ptoken', 'cn')
if not fields[1] then return -1 end
if fields[4] == ARGV[8] then return 1 end
if fields[1] ~= 'open' or tonumber(ARGV[1]) >= tonumber(fields[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'answer', ARGV[2], 'key', ARGV[3], 'rtoken', ARGV[4],
  'cn', ARGV[8])
redis.call('PUBLISH', ARGV[6] .. fields[3], ARGV[7])
return 1
"""

# KEYS: question, the stream's meta. ARGV: new state, channel prefix, message. The state after
# the call. expired: only from open; closed: from open or an untaken claim; acked: unless the
# stream has ended (another process ended it interrupted while this producer was frozen, and
# answered the claim 410: its input_response was never stored), then closed.
_SETTLE = r"""
local fields = redis.call('HMGET', KEYS[1], 'state', 'rtoken')
local state = fields[1]
if not state then return '' end
local want = ARGV[1]
if want == 'acked' and redis.call('HGET', KEYS[2], 'done') == '1' then
  if state ~= 'answered' and state ~= 'cancelled' then return state end
  want = 'closed'
end
if want == 'expired' and state ~= 'open' then return state end
if want == 'closed' and state ~= 'open' and state ~= 'answered' and state ~= 'cancelled' then
  return state
end
redis.call('HSET', KEYS[1], 'state', want)
if fields[2] then redis.call('PUBLISH', ARGV[2] .. fields[2], ARGV[3]) end
return want
"""


class RedisQuestionBoard:
    """:class:`~agent_stream.server.question_board.QuestionBoard` shared by every process
    on the same Redis and ``prefix``."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        blocking_client: Redis | RedisCluster | None = None,
        prefix: str = "agent-stream",
        op_timeout_s: float = 1.0,
        retry_s: float = 10.0,
    ) -> None:
        import redis as redis_module

        self._client = client
        self._blocking = blocking_client if blocking_client is not None else client
        self.prefix = prefix
        self.op_timeout_s = op_timeout_s
        self.retry_s = retry_s
        self._errors = transient_errors(redis_module)
        self._token = secrets.token_hex(8)
        self._channels = f"{prefix}:questions:"
        self._events: dict[tuple[str, str], asyncio.Event] = {}
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribing = asyncio.Lock()
        self._closing = False
        self._scripts = {
            "open": client.register_script(_OPEN),
            "claim": client.register_script(_CLAIM),
            "settle": client.register_script(_SETTLE),
        }

    def _key(self, stream_id: str, request_id: str) -> str:
        return f"{self.prefix}:{{{stream_id}}}:q:{request_id}"

    async def _call(self, name: str, key: str | list[str], args: list[Any]) -> Any:
        try:
            with anyio.fail_after(self.op_timeout_s):
                keys = [key] if isinstance(key, str) else key
                return await self._scripts[name](keys=keys, args=args)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"Redis is unavailable ({type(exc).__name__}: {exc}); retry shortly"
            ) from exc

    async def _riding_out(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """The producer's calls ride out a Redis restart for ``retry_s``, as its appends do
        (the respond route's fail at once: its 503 tells the answerer to retry)."""
        deadline = time.monotonic() + self.retry_s
        backoff_s = 0.05
        while True:
            try:
                return await call()
            except StoreUnavailableError as exc:
                if time.monotonic() + backoff_s > deadline:
                    raise
                logger.info("question board: %s; retrying in %.2fs", exc, backoff_s)
            await anyio.sleep(backoff_s)
            backoff_s = min(1.0, backoff_s * 2)

    # Waking waiters in this process

    def _event(self, stream_id: str, request_id: str) -> asyncio.Event:
        key = (stream_id, request_id)
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def _wake(self, stream_id: str, request_id: str) -> None:
        # set, not removed: the waiter that registered it may be between its read and its
        # wait; the waiter removes it once it waited
        event = self._events.get((stream_id, request_id))
        if event is not None:
            event.set()

    async def _wait(self, stream_id: str, request_id: str, timeout_s: float) -> None:
        # get() registered the event before it read the record, so a message that came in
        # between has set it already: no wake is lost to that race
        key = (stream_id, request_id)
        event = self._event(stream_id, request_id)
        with anyio.move_on_after(timeout_s):
            await event.wait()
        if self._events.get(key) is event:
            del self._events[key]  # woken or timed out: the next read registers a fresh one

    async def _listen(self) -> None:
        async with self._subscribing:
            if self._closing or (self._listener is not None and not self._listener.done()):
                return
            pubsub: PubSub | None = None
            try:
                with anyio.fail_after(self.op_timeout_s):
                    pubsub = await make_pubsub(self._blocking)
                    await pubsub.subscribe(self._channels + self._token)
            except self._errors as exc:
                if pubsub is not None:
                    await close_pubsub(pubsub)
                raise StoreUnavailableError(
                    f"Redis is unavailable ({type(exc).__name__}: {exc}); retry shortly"
                ) from exc
            self._pubsub = pubsub
            self._listener = asyncio.get_running_loop().create_task(self._read_messages(pubsub))

    async def _read_messages(self, pubsub: PubSub) -> None:
        while not self._closing:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except self._errors as exc:
                # waiters poll meanwhile; resubscribe on the next open()/claim()
                logger.info("question channel lost (%s); falling back to polling", exc)
                return
            if message is None or message.get("type") != "message":
                continue
            stream_id, _, request_id = bytes(message["data"]).decode().partition(" ")
            self._wake(stream_id, request_id)

    # QuestionBoard

    async def open(
        self,
        stream_id: str,
        request_id: str,
        event: bytes,
        *,
        expires_at_s: float,
        max_answer_bytes: int = 0,
    ) -> None:
        await self._riding_out(self._listen)
        exp_ms = round(expires_at_s * 1000)
        keep_ms = max(1, exp_ms - round(time.time() * 1000)) + _KEEP_MS
        # one nonce for every attempt: a retry of an open that took answers as the open did
        args = [event, exp_ms, self._token, keep_ms, secrets.token_hex(8), max_answer_bytes]
        key = self._key(stream_id, request_id)
        created = await self._riding_out(lambda: self._call("open", key, args))
        if not created:
            raise UsageError(
                f"request_id {request_id!r} was already asked in this stream; use a new one",
                code="duplicate-request",
            )

    async def get(self, stream_id: str, request_id: str) -> QuestionRecord | None:
        key = self._key(stream_id, request_id)
        # a waiter reads, then waits: be ready for the message before reading
        self._event(stream_id, request_id)
        try:
            with anyio.fail_after(self.op_timeout_s):
                fields: dict[bytes, bytes] = await self._client.hgetall(key)  # type: ignore[assignment]
        except self._errors as exc:
            raise StoreUnavailableError(
                f"Redis is unavailable ({type(exc).__name__}: {exc}); retry shortly"
            ) from exc
        if not fields:
            self._events.pop((stream_id, request_id), None)
            return None
        state: QuestionState = fields[b"state"].decode()  # type: ignore[assignment]
        if state not in ("open", "answered", "cancelled"):
            self._events.pop((stream_id, request_id), None)  # settled: nothing to wait for
        return QuestionRecord(
            stream_id,
            request_id,
            fields[b"event"],
            int(fields[b"exp"]) / 1000,
            state,
            fields.get(b"answer", b""),
            fields.get(b"key", b"").decode(),
            int(fields.get(b"max", b"0")),
        )

    async def wait(self, stream_id: str, request_id: str) -> Claim | None:
        while True:
            record = await self._riding_out(lambda: self.get(stream_id, request_id))
            if record is None:
                return None
            if record.state in ("answered", "cancelled"):
                return Claim(record.answer, is_cancelled=record.state == "cancelled")
            if record.state != "open":
                return None
            remaining = record.expires_at_s - time.time()
            if remaining <= 0:
                expired = await self._riding_out(
                    lambda: self._settle(stream_id, request_id, "expired")
                )
                if expired == "expired":
                    return None
                continue  # an answer won the race with the deadline
            await self._wait(stream_id, request_id, min(remaining, POLL_S * 4))

    async def _settle(self, stream_id: str, request_id: str, state: str) -> str:
        reply = await self._call(
            "settle",
            [self._key(stream_id, request_id), f"{self.prefix}:{{{stream_id}}}:meta"],
            [state, self._channels, f"{stream_id} {request_id}"],
        )
        return bytes(reply).decode() if isinstance(reply, bytes) else str(reply)

    async def settle(
        self, stream_id: str, request_id: str, state: Literal["acked", "closed"]
    ) -> None:
        await self._riding_out(lambda: self._settle(stream_id, request_id, state))

    async def claim(
        self,
        stream_id: str,
        request_id: str,
        answer: bytes,
        *,
        key: str,
        is_cancel: bool = False,
    ) -> bool:
        await self._listen()
        now_ms = round(time.time() * 1000)
        claimed = await self._call(
            "claim",
            self._key(stream_id, request_id),
            [
                now_ms,
                answer,
                key,
                self._token,
                "cancelled" if is_cancel else "answered",
                self._channels,
                f"{stream_id} {request_id}",
                secrets.token_hex(8),
            ],
        )
        return bool(claimed == 1)

    async def wait_settled(self, stream_id: str, request_id: str, timeout_s: float) -> None:
        await self._wait(stream_id, request_id, timeout_s)

    async def aclose(self) -> None:
        self._closing = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._errors):
                await close_pubsub(pubsub)
        for event in self._events.values():
            event.set()
        self._events.clear()
