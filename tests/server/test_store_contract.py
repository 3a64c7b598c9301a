"""The StreamStore contract: every store passes these, whatever it keeps its events in.

A backend joins with one line in ``BACKENDS``: a factory that opens a fresh, isolated store
(``make(**bounds)``) and, for a store shared across processes, a second one on the same data
that plays "another process" (``reader``). Backends whose producers can die apart from their
store (the store outlives the process that produced a stream) also say how to lose one
(``lose_producer``), and get the interrupted-end tests.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_stream.errors import ResumeError, StoreUnavailableError, UsageError
from agent_stream.events import DEFAULT_MAX_EVENT_BYTES
from agent_stream.server import MemoryStore, StoredEvent, StreamStore
from agent_stream.server.redis import RedisStore
from tests.redis_cluster_helpers import RedisClusterServers
from tests.redis_helpers import RedisServer

pytestmark = pytest.mark.anyio

SID = "c" * 22


@dataclass
class Stores:
    """One test's stores: ``store`` produces; ``reader`` reads as another process would."""

    store: StreamStore
    reader: StreamStore
    lose_producer: Callable[[], Awaitable[None]] | None = None
    lose_reader: Callable[[], Awaitable[None]] | None = None
    """The reader's process dies (kill -9): it neither detaches nor renews its readers."""


Backend = Callable[..., AbstractAsyncContextManager[Stores]]


@asynccontextmanager
async def memory(**bounds: Any) -> AsyncIterator[Stores]:
    bounds.pop("lease_s", None)
    store = MemoryStore(**bounds)
    try:
        yield Stores(store, store)
    finally:
        await store.aclose()


_prefixes = itertools.count()


@asynccontextmanager
async def redis(redis_url: str, **bounds: Any) -> AsyncIterator[Stores]:
    prefix = f"contract{next(_prefixes)}"
    store = RedisStore.from_url(redis_url, prefix=prefix, **bounds)
    reader = RedisStore.from_url(redis_url, prefix=prefix, **bounds)
    closed = False

    async def lose_producer() -> None:
        # the producing process goes away without done (a kill -9): its lease stops renewing
        nonlocal closed
        closed = True
        await store.aclose()

    reader_closed = False

    async def lose_reader() -> None:
        nonlocal reader_closed
        reader_closed = True
        reader.signals.readers.clear()  # what a dead process would never renew nor detach
        reader.signals.pending.clear()
        await reader.aclose()

    try:
        yield Stores(store, reader, lose_producer, lose_reader)
    finally:
        with anyio.fail_after(5):
            if not closed:
                await store.aclose()
            if not reader_closed:
                await reader.aclose()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(Path(tmp_path_factory.mktemp("redis"))) as server:
        yield server


def _redis(request: pytest.FixtureRequest) -> Backend:
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda **bounds: redis(server.url, **bounds)


def _redis_cluster(request: pytest.FixtureRequest) -> Backend:
    # 3 masters + 3 replicas; an event counts as stored once a replica has it too. A replica's
    # acknowledgement may take over the default 1 s on a loaded machine (the store then refuses
    # the append, as it should): these tests are about the contract, so they give it 3 s.
    cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
    return lambda **bounds: redis(
        cluster.url, min_replicas_acked=1, **{"op_timeout_s": 3.0, **bounds}
    )


# One line per backend: its name and how to open it (given the test's fixtures).
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "memory": lambda _: memory,
    "redis": _redis,
    "redis-cluster": _redis_cluster,
}
LOSES_PRODUCERS = ["redis", "redis-cluster"]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param](request)


@pytest.fixture(params=LOSES_PRODUCERS)
def shared_backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param](request)


def tokens(first: int, count: int) -> list[StoredEvent]:
    return [("token", b'{"text":"t%d"}' % seq) for seq in range(first, first + count)]


DONE: StoredEvent = ("done", b'{"reason":"completed"}')


async def read_to_end(store: StreamStore, after: int, *, wait_s: float = 2.0) -> list[StoredEvent]:
    got: list[StoredEvent] = []
    for _ in range(10_000):  # bounded: each read returns events or waits
        result = await store.read(SID, after, wait_s=wait_s)
        got += result.events
        after += len(result.events)
        if result.is_done and after == result.last_seq:
            return got
    raise AssertionError("the stream never ended")


async def read_to_end_or(store: StreamStore, after: int, *, last: int) -> list[StoredEvent]:
    """What an open stream holds after ``after``, up to seq ``last``, in as many reads as the
    store answers with."""
    got: list[StoredEvent] = []
    while after < last:
        events = (await store.read(SID, after)).events
        assert events, f"nothing after {after} though the stream holds {last}"
        got += events
        after += len(events)
    return got


async def test_an_event_of_the_largest_size_a_server_sends_is_kept_whole(
    backend: Backend,
) -> None:
    # a run stores events up to StreamOptions.max_event_bytes (1 MiB by default; the run
    # refuses larger ones before they reach the store, PROTOCOL 2.8)
    text = "é" * ((DEFAULT_MAX_EVENT_BYTES - 12) // 2)
    big: StoredEvent = ("token", b'{"text":"' + text.encode() + b'"}')
    assert len(big[1]) <= DEFAULT_MAX_EVENT_BYTES
    async with backend() as stores:
        with anyio.fail_after(10):
            await stores.store.create(SID, owner="")
            stores.store.append_nowait(SID, 1, [big])
            await stores.store.append(SID, 2, [DONE])
            assert await read_to_end(stores.reader, 0) == [big, DONE]


async def test_append_then_replay_after_any_cursor(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(5):
            store = stores.store
            assert isinstance(store, StreamStore)
            await store.create(SID, owner="alice", meta={"model": "demo"})
            sent = [*tokens(1, 19), DONE]
            await store.append(SID, 1, sent)
            for reader in (store, stores.reader):
                info = await reader.info(SID)
                assert info is not None
                assert (info.owner, info.last_seq, info.earliest_seq) == ("alice", 20, 1)
                assert info.is_done and info.meta == {"model": "demo"}
                for cursor in (0, 1, 7, 19, 20):
                    result = await reader.read(SID, cursor)
                    assert list(result.events) == sent[cursor:]
                    assert result.is_done and result.last_seq == 20
                    now = reader.read_nowait(SID, cursor)
                    assert now is None or list(now.events) == sent[cursor:]


async def test_typed_misuse_and_unknown_streams(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(5):
            store = stores.store
            await store.create(SID, owner="")
            with pytest.raises(UsageError) as exists:
                await store.create(SID, owner="bob")
            assert exists.value.code == "stream-exists"
            await store.append(SID, 1, tokens(1, 5))
            with pytest.raises(UsageError):
                await store.append(SID, 7, tokens(7, 1))  # a gap
            with pytest.raises(ResumeError) as past:
                await stores.reader.read(SID, 9)
            assert past.value.code == "malformed-id"
            assert await stores.reader.info("u" * 22) is None
            with pytest.raises(ResumeError) as unknown:
                await stores.reader.read("u" * 22, 0)
            assert unknown.value.code == "unknown-stream"


async def test_done_closes_the_stream_and_nothing_follows_it(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(5):
            store = stores.store
            await store.create(SID, owner="")
            await store.append(SID, 1, [*tokens(1, 2), DONE, *tokens(4, 2)])
            result = await stores.reader.read(SID, 0)
            assert list(result.events) == [*tokens(1, 2), DONE]
            assert result.is_done and result.last_seq == 3
            with pytest.raises(UsageError):
                await store.append(SID, 4, tokens(4, 1))


async def test_a_reader_waits_for_and_follows_the_producer(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(10):
            store = stores.store
            await store.create(SID, owner="")
            got: list[StoredEvent] = []

            async def follow() -> None:
                got.extend(await read_to_end(stores.reader, 0, wait_s=5.0))

            async with anyio.create_task_group() as tg:
                tg.start_soon(follow)
                for first in range(1, 50, 7):
                    store.append_nowait(SID, first, tokens(first, 7))
                    await anyio.sleep(0.01)  # pace the producer: the reader must wait and wake
                await store.append(SID, 50, [DONE])
            assert got == [*tokens(1, 49), DONE]


async def test_watch_resolves_at_the_next_append_and_refuses_when_more_is_there(
    backend: Backend,
) -> None:
    async with backend() as stores:
        with anyio.fail_after(5):
            store, reader = stores.store, stores.reader
            await store.create(SID, owner="")
            await store.append(SID, 1, tokens(1, 3))
            # 2 and 3 are there: no wait (or, across processes, one that ends at once)
            more = asyncio.get_running_loop().create_future()
            if reader.watch(SID, 1, more):
                await more
            woken = asyncio.get_running_loop().create_future()
            assert reader.watch(SID, 3, woken)
            await anyio.wait_all_tasks_blocked()
            assert not woken.done()
            await store.append(SID, 4, tokens(4, 1))
            await woken
            assert list((await reader.read(SID, 3)).events) == tokens(4, 1)


async def test_a_trimmed_cursor_is_expired_and_names_the_earliest_id(backend: Backend) -> None:
    async with backend(max_events=100) as stores:
        with anyio.fail_after(10):
            store = stores.store
            await store.create(SID, owner="")
            for first in range(1, 2001, 100):
                await store.append(SID, first, tokens(first, 100))
            info = await stores.reader.info(SID)
            assert info is not None and info.earliest_seq > 1
            with pytest.raises(ResumeError) as expired:
                await stores.reader.read(SID, 0)
            assert expired.value.code == "expired"
            assert expired.value.earliest_id == f"{SID}:{info.earliest_seq}"
            rest = await read_to_end_or(stores.reader, info.earliest_seq - 1, last=2000)
            assert rest == tokens(info.earliest_seq, 2000 - info.earliest_seq + 1)


async def test_an_ended_stream_is_forgotten_after_its_ttl(backend: Backend) -> None:
    async with backend(ttl_s=0.5) as stores:
        with anyio.fail_after(10):
            store = stores.store
            await store.create(SID, owner="")
            await store.append(SID, 1, [*tokens(1, 4), DONE])
            assert await stores.reader.info(SID) is not None
            while await stores.reader.info(SID) is not None:  # noqa: ASYNC110 - the store's clock
                await anyio.sleep(0.05)
            with pytest.raises(ResumeError) as gone:
                await stores.reader.read(SID, 0)
            assert gone.value.code == "unknown-stream"


async def test_idempotency_keys_bind_to_the_first_binder(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(5):
            await stores.store.create(SID, owner="")
            assert await stores.store.bind_key("k", SID, ttl_s=5) == SID
            assert await stores.reader.bind_key("k", "other", ttl_s=5) == SID


async def test_a_lost_producer_ends_the_stream_interrupted_once(shared_backend: Backend) -> None:
    async with shared_backend(lease_s=0.5) as stores:
        assert stores.lose_producer is not None
        with anyio.fail_after(10):
            await stores.store.create(SID, owner="")
            await stores.store.append(SID, 1, tokens(1, 10))
            await stores.lose_producer()
            seen = [await read_to_end(stores.reader, 0), await read_to_end(stores.reader, 0)]
            assert seen[0] == seen[1]
            assert seen[0][:10] == tokens(1, 10)
            (error_type, error), (done_type, done) = seen[0][10:]
            assert (error_type, done_type) == ("error", "done")
            assert b'"interrupted"' in error and b'"reason":"interrupted"' in done
            info = await stores.reader.info(SID)
            assert info is not None and info.is_done and info.last_seq == 12


class Counted:
    """What a producer's ``on_readers`` heard, with a way to wait for a count."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self._changed = anyio.Event()

    def __call__(self, count: int) -> None:
        self.counts.append(count)
        self._changed.set()
        self._changed = anyio.Event()

    async def reaches(self, count: int) -> None:
        while not self.counts or self.counts[-1] != count:
            await self._changed.wait()


async def test_readers_in_any_process_reach_the_producer(backend: Backend) -> None:
    async with backend() as stores:
        with anyio.fail_after(10):
            store = stores.store
            await store.create(SID, owner="")
            counted = Counted()
            store.on_readers(SID, counted)
            detach_here = store.attach(SID)
            await counted.reaches(1)
            detach_there = stores.reader.attach(SID)
            await counted.reaches(2)
            detach_here()
            detach_here()  # again: nothing
            await counted.reaches(1)
            detach_there()
            await counted.reaches(0)
            again = stores.reader.attach(SID)
            await counted.reaches(1)
            await store.append(SID, 1, [DONE])
            again()  # after the end: nobody is told, nothing fails
            assert store.attach(SID) is not None


async def test_a_dead_process_readers_lapse_within_a_lease(shared_backend: Backend) -> None:
    async with shared_backend(lease_s=0.5) as stores:
        assert stores.lose_reader is not None
        with anyio.fail_after(10):
            await stores.store.create(SID, owner="")
            counted = Counted()
            stores.store.on_readers(SID, counted)
            stores.reader.attach(SID)
            await counted.reaches(1)
            await stores.lose_reader()
            await counted.reaches(0)  # the producer's lease renewal drops the lapsed reader


async def test_a_stop_from_any_process_reaches_the_producer_once_acknowledged(
    backend: Backend,
) -> None:
    async with backend() as stores:
        with anyio.fail_after(10):
            store = stores.store
            await store.create(SID, owner="")
            await store.append(SID, 1, tokens(1, 3))
            stops: list[int] = []
            store.on_stop(SID, lambda: stops.append(1))
            for asker in (stores.reader, store):
                assert await asker.request_stop(SID, timeout_s=5) == "stopped"
            assert stops == [1, 1]  # each stop reached the producer before it returned
            await store.append(SID, 4, [DONE])
            for asker in (stores.reader, store):
                assert await asker.request_stop(SID, timeout_s=5) == "ended"
            with pytest.raises(ResumeError) as unknown:
                await stores.reader.request_stop("u" * 22, timeout_s=5)
            assert unknown.value.code == "unknown-stream"


async def test_a_stop_finds_a_lost_producer_and_ends_the_stream_interrupted(
    shared_backend: Backend,
) -> None:
    async with shared_backend(lease_s=0.5) as stores:
        assert stores.lose_producer is not None
        with anyio.fail_after(10):
            await stores.store.create(SID, owner="")
            await stores.store.append(SID, 1, tokens(1, 3))
            # a producer that is alive but never acknowledges: 503, never a silent success
            with pytest.raises(StoreUnavailableError) as undelivered:
                await stores.reader.request_stop(SID, timeout_s=0.3)
            assert undelivered.value.code == "stop-undelivered"
            await stores.lose_producer()
            assert await stores.reader.request_stop(SID, timeout_s=5) == "interrupted"
            seen = await read_to_end(stores.reader, 0)
            assert [t for t, _ in seen] == ["token"] * 3 + ["error", "done"]
