"""RedisStore on a real Redis Cluster: 3 masters with a replica each (tests/redis_cluster_helpers).

Streams spread over the masters and any store resumes them; with ``min_replicas_acked=1`` an
event is sent only once a replica has it; a master killed mid-run fails over to its replica and
the client still reads every event once, with one ``done``; and a master killed while its
replica lags takes the events it had acknowledged with it, unless ``min_replicas_acked=1``.
(The StreamStore contract also runs on the cluster: tests/server/test_store_contract.py,
backend ``redis-cluster``.)
"""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from agent_stream.bridges.index import RedisStreamIndex
from agent_stream.errors import StoreUnavailableError
from agent_stream.server import StoredEvent
from agent_stream.server.redis import RedisStore
from tests.redis_cluster_helpers import RedisClusterServers, wait_for
from tests.server.conftest import Frame, frames
from tests.server.test_questions_redis import answer, asking, rest, text_of
from tests.server.test_redis_replica import check_sent_only_once_replicated
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

_prefixes = itertools.count()
DONE: StoredEvent = ("done", b'{"reason":"completed"}')


def tokens(first: int, count: int) -> list[StoredEvent]:
    return [("token", b'{"text":"t%d"}' % seq) for seq in range(first, first + count)]


@asynccontextmanager
async def two_stores(url: str, **options: Any) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """A producing store and one in "another process", on the same cluster and prefix."""
    prefix = f"cluster{next(_prefixes)}"
    a = RedisStore.from_url(url, prefix=prefix, min_replicas_acked=1, **options)
    b = RedisStore.from_url(url, prefix=prefix, min_replicas_acked=1, **options)
    try:
        yield a, b
    finally:
        with anyio.fail_after(10):
            await a.aclose()
            await b.aclose()


def ids_on_every_master(
    cluster: RedisClusterServers, store: RedisStore, per_master: int
) -> dict[int, list[str]]:
    """Stream ids, ``per_master`` on each master (by the port of the node serving them)."""
    by_master: dict[int, list[str]] = {}
    for _ in range(1000):  # bounded: each id lands on one of 3 masters
        sid = uuid.uuid4().hex[:22]
        port = cluster.master_for(store._keys(sid)[0]).port
        if len(by_master.setdefault(port, [])) < per_master:
            by_master[port].append(sid)
        if len(by_master) == cluster.masters and all(
            len(ids) == per_master for ids in by_master.values()
        ):
            return by_master
    raise AssertionError(f"no {per_master} ids per master in 1000 tries: {by_master}")


async def follow(store: RedisStore, sid: str, got: list[StoredEvent]) -> None:
    """Read ``sid`` as it is written, into ``got``, until its ``done``."""
    after = 0
    while not got or got[-1] != DONE:
        result = await store.read(sid, after, wait_s=5)
        got.extend(result.events)
        after += len(result.events)


async def test_streams_on_every_master_are_read_followed_and_stopped_from_another_store(
    redis_cluster: RedisClusterServers,
) -> None:
    # lease_s=30: the producer renews every 10 s, so a reader count arriving sooner came
    # over pub/sub (PUBLISH on the stream's master, the subscriber on another node)
    async with two_stores(redis_cluster.url, lease_s=30) as (a, b):
        by_master = ids_on_every_master(redis_cluster, a, 2)
        with anyio.fail_after(30):
            for replay, live in by_master.values():
                await a.create(replay, owner="alice")
                await a.append(replay, 1, [*tokens(1, 20), DONE])
                assert list((await b.read(replay, 5)).events) == [*tokens(6, 15), DONE]

                await a.create(live, owner="alice")
                counts: list[int] = []
                a.on_readers(live, counts.append)
                detach = b.attach(live)
                got: list[StoredEvent] = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(follow, b, live, got)
                    for first in range(1, 30, 10):
                        await a.append(live, first, tokens(first, 10))
                    with anyio.fail_after(5):
                        while counts[-1:] != [1]:  # noqa: ASYNC110 - pub/sub, no event to await
                            await anyio.sleep(0.02)
                    stops: list[str] = []
                    a.on_stop(live, functools.partial(stops.append, live))
                    assert await b.request_stop(live, timeout_s=5) == "stopped"
                    assert stops == [live]
                    await a.append(live, 31, [DONE])
                assert got == [*tokens(1, 30), DONE]
                detach()


async def test_an_event_is_sent_only_once_a_replica_has_it(
    redis_cluster: RedisClusterServers,
) -> None:
    # op_timeout_s bounds each WAIT: long enough for a loaded machine's replica to answer
    async with two_stores(redis_cluster.url, op_timeout_s=1.5, append_retry_s=60) as (a, b):
        ((sid, *_), *_) = ids_on_every_master(redis_cluster, a, 1).values()
        replica = redis_cluster.replica_of(redis_cluster.master_for(a._keys(sid)[0]))
        await check_sent_only_once_replicated(a, b, sid, replica)


# A master killed mid-run


@pytest.fixture(scope="module")
def doomed_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A cluster of this module's own: each test kills one of its masters, and leaves it whole
    again (the killed node back as a replica)."""
    with RedisClusterServers(tmp_path_factory.mktemp("doomed")) as cluster:
        yield cluster


def worker(cluster: RedisClusterServers) -> UvicornProcess:
    # lease_s: the producer's lease outlives the failover, so the run goes on (a shorter one
    # would end it interrupted: also correct, less to check)
    options = "prefix=failover&lease_s=15&append_retry_s=30&ttl_s=60&min_replicas_acked=1"
    return UvicornProcess(
        "tests.server.app:create_app",
        factory=True,
        args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
        env={"TEST_REDIS_URL": f"{cluster.url}&{options}", "TEST_HEARTBEAT_S": "1"},
    )


def events_of(seen: list[Frame]) -> list[Frame]:
    return [f for f in seen if f.event not in (None, "start")]


async def read_until(
    reader: AsyncIterator[Frame], seen: list[Frame], *, count: int | None = None
) -> None:
    """Append frames to ``seen`` until ``done``, or until ``count`` events in all."""
    async for frame in reader:
        seen.append(frame)
        if frame.event == "done" or (count is not None and len(events_of(seen)) >= count):
            return


async def test_a_master_killed_mid_run_fails_over_and_no_acknowledged_event_is_lost(
    doomed_cluster: RedisClusterServers,
) -> None:
    cluster = doomed_cluster
    who = {"authorization": f"Bearer {uuid.uuid4().hex}"}
    query: dict[str, str | int] = {"tag": "failover", "n": 400, "delay_ms": 10}
    seen: list[Frame] = []
    with worker(cluster) as a, worker(cluster) as b, anyio.fail_after(90):
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("POST", f"{a.url}/chat", params=query, headers=who) as r:
                assert r.status_code == 200
                reader = aiter(frames(r))
                await read_until(reader, seen, count=40)
                sid = events_of(seen)[-1].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
                master = cluster.master_for(f"failover:{{{sid}}}:events")
                replica = cluster.replica_of(master)
                # the replica stops acknowledging: the master gets events no client is sent
                replica.pause()
                sent = events_of(seen)[-1].seq
                meta = f"failover:{{{sid}}}:meta"
                await anyio.to_thread.run_sync(
                    lambda: wait_for(
                        "unreplicated events",
                        lambda: (
                            int(cluster.client(master).hget(meta, "last") or 0) > sent + 5 or None
                        ),
                        30,
                    )
                )
                cluster.kill(master)  # kill -9, mid-run
                replica.resume()
                promoted = await anyio.to_thread.run_sync(cluster.wait_promoted, master)
                assert promoted.port != master.port
                # back as the new master's replica: replicas acknowledge again
                await anyio.to_thread.run_sync(cluster.rejoin, master)
                await read_until(reader, seen, count=120)
            # the client leaves and resumes on the other worker
            last_id = events_of(seen)[-1].id or ""
            stream_url = f"{b.url}/api/streams/{sid}"
            headers = {**who, "last-event-id": last_id}
            async with client.stream("GET", stream_url, headers=headers) as r:
                assert r.status_code == 200
                await read_until(aiter(frames(r)), seen)
            # and the whole stream, replayed from the new master, is what the client saw
            replay: list[Frame] = []
            async with client.stream(
                "GET", stream_url, headers={**who, "last-event-id": f"{sid}:0"}
            ) as r:
                await read_until(aiter(frames(r)), replay)
    events = events_of(seen)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # 0 lost, 0 duplicated
    assert [(e.id, e.data) for e in events] == [(e.id, e.data) for e in events_of(replay)]
    assert sum(e.event == "done" for e in events) == 1 and events[-1].event == "done"
    assert json.loads(events[-1].data or "{}").get("reason", "completed") == "completed"
    texts = [json.loads(e.data or "{}")["text"] for e in events if e.event == "token"]
    assert texts == [f"t{i} " for i in range(400)]


async def test_the_bridges_stream_index_takes_the_same_cluster_url(
    redis_cluster: RedisClusterServers,
) -> None:
    index = RedisStreamIndex.from_url(f"{redis_cluster.url}&prefix=idx{next(_prefixes)}")
    chats = [f"chat-{i}" for i in range(12)]
    masters = {redis_cluster.master_for(f"{index.prefix}:{chat}").port for chat in chats}
    assert len(masters) > 1  # keys of one call each, on several nodes
    try:
        with anyio.fail_after(10):
            for chat in chats:
                await index.set(chat, f"sid-{chat}", ttl_s=30)
            assert [await index.get(chat) for chat in chats] == [f"sid-{c}" for c in chats]
    finally:
        await index.aclose()


# 64 events of 256 KiB: 16 MiB, more than the sockets between a master and its stopped
# replica hold (4 MiB at most here), so it is still in the master's memory when it is killed
BIG = [("token", b'{"text":"' + b"x" * (256 * 1024) + b'"}')] * 64


@pytest.mark.parametrize("acks", [0, 1])
async def test_a_failover_loses_sent_events_unless_a_replica_acknowledged_them(
    doomed_cluster: RedisClusterServers, acks: int
) -> None:
    # op_timeout_s: a call carries megabytes here, on a loaded machine
    options: dict[str, Any] = {"lease_s": 60, "append_retry_s": 60, "ttl_s": 60, "op_timeout_s": 5}
    cluster = doomed_cluster
    prefix = f"loss{acks}"
    store = RedisStore.from_url(cluster.url, prefix=prefix, min_replicas_acked=acks, **options)
    later = RedisStore.from_url(cluster.url, prefix=prefix, **options)
    try:
        with anyio.fail_after(90):
            sid = uuid.uuid4().hex[:22]
            await store.create(sid, owner="")
            await store.append(sid, 1, tokens(1, 10))
            master = cluster.master_for(store._keys(sid)[0])
            replica = cluster.replica_of(master)
            replica.pause()  # it receives nothing more: its socket fills, then stalls
            if acks == 0:
                await store.append(sid, 11, BIG)  # acknowledged: the master has them
            else:
                store.append_nowait(sid, 11, BIG)
                meta = store._keys(sid)[1]
                await anyio.to_thread.run_sync(
                    lambda: wait_for(
                        "the master has every event",
                        lambda: int(cluster.client(master).hget(meta, "last") or 0) == 74 or None,
                        30,
                    )
                )
            # what the producer's process would send its readers now
            sendable = store.read_nowait(sid, 10, limit=1000)
            assert sendable is not None
            cluster.kill(master)
            replica.resume()
            await anyio.to_thread.run_sync(cluster.wait_promoted, master)
            await anyio.to_thread.run_sync(cluster.rejoin, master)
            info = await later.info(sid)
            assert info is not None
            if acks == 0:
                # sent, then lost: the promoted replica never had them
                assert len(sendable.events) == 64
                assert info.last_seq < 74
            else:
                # nothing was sent before a replica had it; the run goes on, whole
                assert len(sendable.events) == 0
                await store.append(sid, 75, [DONE])
                replay: list[StoredEvent] = []
                await follow(later, sid, replay)
                assert replay == [*tokens(1, 10), *BIG, DONE]
    finally:
        with anyio.fail_after(30):
            await store.aclose()
            await later.aclose()


async def test_the_demo_on_the_cluster_takes_an_answer_posted_to_the_other_worker(
    redis_cluster: RedisClusterServers,
) -> None:
    # the user-facing path: `agent-stream demo --redis 'redis://...?cluster=1'` in two workers;
    # the question's answer is published on the stream's node and heard on another
    env = {
        "AGENT_STREAM_REDIS_URL": f"{redis_cluster.url}&prefix=demo{next(_prefixes)}",
        "AGENT_STREAM_HEARTBEAT_S": "0.5",
    }
    app = "agent_stream.demo.app:create_app_from_env"
    args = ["--no-access-log", "--timeout-graceful-shutdown", "2"]
    who = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
    with (
        UvicornProcess(app, factory=True, env=env, args=args) as a,
        UvicornProcess(app, factory=True, env=env, args=args) as b,
        anyio.fail_after(30),
    ):
        async with asking(a.url, who) as (question, reader, _):
            answered = await answer(b.url, question, "Porto", who)
            events = await rest(reader)
    assert answered.status_code == 200, answered.text
    assert events[0].event == "input_response"
    assert text_of(events).startswith("You chose Porto. ")
    assert json.loads(events[-1].data or "").get("reason", "completed") == "completed"


async def test_a_store_made_while_its_urls_node_is_down_starts_from_cluster_nodes(
    doomed_cluster: RedisClusterServers,
) -> None:
    cluster = doomed_cluster
    seed = cluster.nodes[0]
    others = ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes[1:])
    served = cluster.kill(seed)  # a worker (re)starts while this node is down
    try:
        if served:  # it was a master: wait for its replica
            await anyio.to_thread.run_sync(cluster.wait_promoted, seed)
        lonely = RedisStore.from_url(f"{seed.url}?cluster=1", op_timeout_s=2)
        seeded = RedisStore.from_url(f"{seed.url}?cluster=1&cluster_nodes={others}")
        try:
            with anyio.fail_after(30):
                with pytest.raises(StoreUnavailableError):
                    await lonely.create("s" * 22, owner="")
                for (sid,) in ids_on_every_master(cluster, seeded, 1).values():
                    await seeded.create(sid, owner="")
                    await seeded.append(sid, 1, [*tokens(1, 3), DONE])
                    assert list((await seeded.read(sid, 0)).events) == [*tokens(1, 3), DONE]
        finally:
            with anyio.fail_after(10):
                await lonely.aclose()
                await seeded.aclose()
    finally:
        await anyio.to_thread.run_sync(cluster.rejoin, seed)
