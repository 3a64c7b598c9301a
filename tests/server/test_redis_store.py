"""RedisStore beyond the store contract (test_store_contract.py): keys, prefixes, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_stream import Token
from agent_stream.errors import ResumeError, StoreUnavailableError
from agent_stream.framing import SSEFraming
from agent_stream.server import RunManager, SourceItem, StreamOptions
from agent_stream.server.connection import Connection
from agent_stream.server.store import ReadResult, StoredEvent, StreamStore
from tests.redis_helpers import RedisServer

pytest.importorskip("redis")

from agent_stream.server.redis import RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SID = "s" * 22


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True) as server:
        yield server


@pytest.fixture
async def store(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(redis_server.url, prefix=f"t{id(request)}", lease_s=0.6, ttl_s=2.0)
    try:
        yield s
    finally:
        with anyio.fail_after(5):
            await s.aclose()


def events(sid: str, first: int, count: int, *, done: bool = False) -> list[StoredEvent]:
    out = [("token", b'{"text":"t%d"}' % seq) for seq in range(first, first + count)]
    if done:
        out[-1] = ("done", b'{"reason":"completed"}')
    return out


async def test_is_a_stream_store(store: RedisStore) -> None:
    assert isinstance(store, StreamStore)


async def test_prefixes_isolate_streams_and_keys(redis_server: RedisServer) -> None:
    a = RedisStore.from_url(redis_server.url, prefix="tenant-a")
    b = RedisStore.from_url(redis_server.url, prefix="tenant-b")
    try:
        with anyio.fail_after(5):
            await a.create(SID, owner="x")
            await a.append(SID, 1, events(SID, 1, 3))
            assert await b.info(SID) is None
            with pytest.raises(ResumeError) as excinfo:
                await b.read(SID, 0)
            assert excinfo.value.code == "unknown-stream"
            await b.create(SID, owner="y")  # the same id is free under another prefix
            assert (await b.info(SID)).owner == "y"  # type: ignore[union-attr]
            assert await a.bind_key("idem:k", SID, ttl_s=5) == SID
            assert await b.bind_key("idem:k", "other", ttl_s=5) == "other"
            assert await a.bind_key("idem:k", "third", ttl_s=5) == SID
    finally:
        await a.aclose()
        await b.aclose()


async def test_keys_expire_after_done(store: RedisStore, redis_server: RedisServer) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        with anyio.fail_after(10):
            await store.create(SID, owner="")
            await store.append(SID, 1, events(SID, 1, 5, done=True))
            keys = await client.keys(f"{store.prefix}:*")
            assert len(keys) == 2  # events + meta; the lease went with done
            for key in keys:
                assert 0 < await client.pttl(key) <= 2000
            while await client.keys(f"{store.prefix}:*"):  # noqa: ASYNC110 - Redis expiry
                await anyio.sleep(0.1)
            assert await store.info(SID) is None
    finally:
        await client.aclose()


async def test_paused_redis_is_unavailable_within_2s(redis_server: RedisServer) -> None:
    producer = RedisStore.from_url(redis_server.url, prefix="pause", op_timeout_s=0.5)
    store = RedisStore.from_url(redis_server.url, prefix="pause", op_timeout_s=0.5)
    try:
        await producer.create(SID, owner="")
        redis_server.pause()
        try:
            for call in (
                lambda: store.info(SID),
                lambda: store.create("p" * 22, owner=""),
                lambda: store.read(SID, 0),
                lambda: store.bind_key("k", SID, ttl_s=1),
            ):
                started = anyio.current_time()
                with anyio.fail_after(2), pytest.raises(StoreUnavailableError) as excinfo:
                    await call()
                assert anyio.current_time() - started < 2
                assert excinfo.value.retry_after_s >= 1
        finally:
            redis_server.resume()
        with anyio.fail_after(5):
            assert await store.info(SID) is not None
    finally:
        await store.aclose()
        await producer.aclose()


async def test_acknowledged_events_survive_a_redis_crash_with_aof(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=True, appendfsync="always") as server:
        store = RedisStore.from_url(server.url, prefix="aof", op_timeout_s=0.5, lease_s=30)
        try:
            with anyio.fail_after(20):
                await store.create(SID, owner="")
                await store.append(SID, 1, events(SID, 1, 500))
                server.restart(crash=True)  # SIGKILL: only what was fsynced survives
                # the producer keeps going: its writer retries until Redis is back
                await store.append(SID, 501, events(SID, 501, 500, done=True))
                result = await store.read(SID, 0, limit=10_000)
                assert list(result.events) == events(SID, 1, 1000, done=True)
        finally:
            await store.aclose()


async def read_or_retry_after(reader: RedisStore, cursor: int) -> ReadResult:
    """A reader's next read; a read refused as unavailable is tried again after its
    ``retry_after_s``, as a client does after a 503 (Redis just resumed from SIGSTOP, on a
    loaded machine, may answer slower than these stores' 0.3 s ``op_timeout_s``)."""
    for _ in range(20):
        try:
            return await reader.read(SID, cursor, wait_s=2.0)
        except StoreUnavailableError as exc:
            await anyio.sleep(exc.retry_after_s)
    return await reader.read(SID, cursor, wait_s=2.0)  # the 21st refusal fails the test


async def test_producer_rides_out_a_short_outage(redis_server: RedisServer) -> None:
    producer = RedisStore.from_url(redis_server.url, prefix="blip", op_timeout_s=0.3, lease_s=5)
    reader = RedisStore.from_url(redis_server.url, prefix="blip", op_timeout_s=0.3, lease_s=5)
    try:
        with anyio.fail_after(10):
            await producer.create(SID, owner="")
            await producer.append(SID, 1, events(SID, 1, 10))
            redis_server.pause()
            try:
                producer.append_nowait(SID, 11, events(SID, 11, 10))
                done = events(SID, 21, 1, done=True)
                producer.append_nowait(SID, 21, done)
                await anyio.sleep(0.8)  # the outage itself: shorter than append_retry_s
                assert producer.is_producing(SID)
            finally:
                redis_server.resume()
            cursor, frames = 0, list[StoredEvent]()
            while cursor < 21:
                result = await read_or_retry_after(reader, cursor)
                frames += result.events
                cursor += len(result.events)
            assert frames == events(SID, 1, 20) + done
    finally:
        await producer.aclose()
        await reader.aclose()


async def test_producer_gives_up_after_a_long_outage_and_readers_see_the_end(
    redis_server: RedisServer,
) -> None:
    options: dict[str, Any] = {"op_timeout_s": 0.3, "lease_s": 0.5, "append_retry_s": 0.5}
    producer = RedisStore.from_url(redis_server.url, prefix="outage", **options)
    reader = RedisStore.from_url(redis_server.url, prefix="outage", **options)
    try:
        with anyio.fail_after(15):
            await producer.create(SID, owner="")
            await producer.append(SID, 1, events(SID, 1, 10))
            redis_server.pause()
            try:
                producer.append_nowait(SID, 11, events(SID, 11, 10))
                while producer.is_producing(SID):  # noqa: ASYNC110 - the writer's retries
                    await anyio.sleep(0.05)
                with pytest.raises(StoreUnavailableError):
                    await producer.append(SID, 21, events(SID, 21, 1))
            finally:
                redis_server.resume()
            cursor, frames = 0, list[StoredEvent]()
            while True:
                result = await read_or_retry_after(reader, cursor)
                frames += result.events
                cursor += len(result.events)
                if result.is_done and cursor == result.last_seq:
                    break
            # everything acknowledged (and the batch in flight when Redis froze, if Redis ran
            # it after all: a timed-out write is unknown, not failed), then the interrupted end
            assert len(frames) in (12, 22)
            assert frames[:-2] == events(SID, 1, len(frames) - 2)
            assert [event_type for event_type, _ in frames[-2:]] == ["error", "done"]
    finally:
        await producer.aclose()
        await reader.aclose()


@pytest.mark.parametrize("outage", ["paused", "crashed"])
async def test_long_outage_cancels_the_run_and_its_connection_ends_interrupted(
    redis_server: RedisServer, outage: str
) -> None:
    options: dict[str, Any] = {"op_timeout_s": 0.3, "lease_s": 0.5, "append_retry_s": 0.5}
    prefix = f"giveup-{outage}"
    store = RedisStore.from_url(redis_server.url, prefix=prefix, **options)
    elsewhere = RedisStore.from_url(redis_server.url, prefix=prefix, **options)
    manager = RunManager(store, options=StreamOptions(heartbeat_s=0.2), handle_signals=False)
    streaming, finally_ran = anyio.Event(), anyio.Event()
    produced = 0

    async def agent() -> AsyncIterator[SourceItem]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield Token(text=f"t{produced}")
                if produced == 20:
                    streaming.set()
                await anyio.sleep(0.005)
        finally:
            finally_ran.set()

    seen: list[bytes] = []

    async def write(chunk: bytes) -> None:
        seen.append(chunk)

    try:
        with anyio.fail_after(20):
            run = await manager.start(agent())
            connection = Connection(
                manager, run.stream_id, 0, manager.options, SSEFraming(run.stream_id)
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(run.drive)
                ends: list[str] = []

                async def pump() -> None:
                    ends.append(await connection.pump(write))

                tg.start_soon(pump)
                await streaming.wait()
                if outage == "paused":
                    redis_server.pause()  # SIGSTOP: writes time out
                else:
                    redis_server.kill()  # SIGKILL: connections refused; AOF keeps what it had
                try:
                    # append_retry_s, then one more timed-out write and the backoff
                    bound_s = options["append_retry_s"] + 6 * options["op_timeout_s"] + 1.0
                    with anyio.fail_after(bound_s):
                        await finally_ran.wait()
                        await run.wait_finished()
                    stopped_at = produced
                    assert not store.is_producing(run.stream_id)
                finally:
                    if outage == "paused":
                        redis_server.resume()
                    else:
                        redis_server.start()
            # the connection closed (Redis down: the client resumes) or got the end itself
            assert ends in (["lost"], ["done"])
            assert produced == stopped_at  # the agent stays stopped
            frames = [f + b"\n\n" for f in b"".join(seen).split(b"\n\n") if f.startswith(b"id:")]
            cursor = len(frames)
            # a resume here and one on another process get the same replay and the same end
            tails = []
            for reader in (store, elsewhere):
                tail, at = list[StoredEvent](), cursor
                while True:
                    result = await reader.read(run.stream_id, at, wait_s=2.0)
                    tail += result.events
                    at += len(result.events)
                    if result.is_done and at == result.last_seq:
                        break
                tails.append(tail)
            assert tails[0] == tails[1]
            # the replay as a client gets it: the same frames the connection wrote
            replayed = SSEFraming(run.stream_id).events(cursor + 1, tails[0])
            whole = frames + [f + b"\n\n" for f in replayed.split(b"\n\n") if f]
            assert [int(f.split(b"\n")[0].rsplit(b":", 1)[1]) for f in whole] == list(
                range(1, len(whole) + 1)
            )
            kinds = [f.split(b"\n")[1] for f in whole]
            assert kinds[-2:] == [b"event: error", b"event: done"]
            assert kinds.count(b"event: done") == 1
            assert b'"interrupted"' in whole[-2] and b'"reason":"interrupted"' in whole[-1]
    finally:
        await store.aclose()
        await elsewhere.aclose()


async def test_a_stop_and_a_reader_whose_messages_are_lost_still_reach_the_producer(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio

    prefix = "lost-messages"
    producer = RedisStore.from_url(redis_server.url, prefix=prefix, lease_s=0.6)
    asker = RedisStore.from_url(redis_server.url, prefix=prefix, lease_s=0.6)
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        with anyio.fail_after(10):
            await producer.create(SID, owner="")
            stops: list[int] = []
            producer.on_stop(SID, lambda: stops.append(1))
            attached = anyio.Event()
            producer.on_readers(SID, lambda count: attached.set() if count == 1 else None)
            await asker.signals.listen()
            # every pub/sub connection goes: the stop, its acknowledgement and the reader's
            # message may all be published to nobody; the lease renewal and the asker's
            # polling carry them instead
            await admin.client_kill_filter(_type="pubsub")
            assert await asker.request_stop(SID, timeout_s=5) == "stopped"
            assert stops == [1]
            asker.attach(SID)
            await attached.wait()  # by message, or by the producer's renewal
    finally:
        await admin.aclose()
        with anyio.fail_after(5):
            await producer.aclose()
            await asker.aclose()
