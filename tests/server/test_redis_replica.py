"""``min_replicas_acked`` on one Redis with a replica (no cluster): the ``WAIT`` follows the
writes on the same connection of a plain pipeline, and an event is sent only once the replica
has it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from agent_stream.errors import StoreUnavailableError
from agent_stream.server.redis import RedisStore
from tests.redis_cluster_helpers import wait_for
from tests.redis_helpers import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def primary_and_replica(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, RedisServer]]:
    root = Path(tmp_path_factory.mktemp("replicated"))
    with RedisServer(root / "primary") as primary:
        replica_of = ["--replicaof", "127.0.0.1", str(primary.port)]
        with RedisServer(root / "replica", extra_args=replica_of) as replica:
            client = redis.Redis(port=replica.port, socket_timeout=2)
            wait_for(
                "the replica in sync",
                lambda: client.info("replication").get("master_link_status") == "up" or None,
                20,
            )
            yield primary, replica


def tokens(first: int, count: int) -> list[tuple[str, bytes]]:
    return [("token", b'{"text":"t%d"}' % seq) for seq in range(first, first + count)]


async def check_sent_only_once_replicated(
    a: RedisStore, b: RedisStore, sid: str, replica: RedisServer
) -> None:
    """With ``min_replicas_acked=1``: events Redis has but ``replica`` has not acknowledged are
    sent by neither the producer's store ``a`` nor another process's ``b``, until it resumes."""
    with anyio.fail_after(30):
        await a.create(sid, owner="")
        await a.append(sid, 1, tokens(1, 2))
        # b knows the topology before a node hangs (learning it, it may ask the hung one)
        assert list((await b.read(sid, 0)).events) == tokens(1, 2)
        replica.pause()  # SIGSTOP: it acknowledges nothing
        try:
            a.append_nowait(sid, 3, tokens(3, 3))
            while (await b.info(sid)).last_seq != 5:  # type: ignore[union-attr]  # noqa: ASYNC110
                await anyio.sleep(0.02)  # the master has them (polling another process)
            # ...but neither the producer's process nor another one sends them yet
            assert list(a.read_nowait(sid, 2).events) == []  # type: ignore[union-attr]
            with pytest.raises(StoreUnavailableError):
                await b.read(sid, 2)
        finally:
            replica.resume()
        assert list((await b.read(sid, 2, wait_s=10)).events) == tokens(3, 3)
        while not a.read_nowait(sid, 2).events:  # type: ignore[union-attr]  # noqa: ASYNC110
            await anyio.sleep(0.02)  # the producer's writer retries after a backoff
        assert list(a.read_nowait(sid, 2).events) == tokens(3, 3)  # type: ignore[union-attr]


async def test_an_event_is_sent_only_once_the_replica_has_it(
    primary_and_replica: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = primary_and_replica
    # op_timeout_s bounds each WAIT: long enough for a loaded machine's replica to answer
    options: dict[str, Any] = {"prefix": "replicated", "op_timeout_s": 1.5, "append_retry_s": 60}
    a = RedisStore.from_url(primary.url, min_replicas_acked=1, **options)
    b = RedisStore.from_url(primary.url, min_replicas_acked=1, **options)
    sid = uuid.uuid4().hex[:22]
    try:
        await check_sent_only_once_replicated(a, b, sid, replica)
    finally:
        with anyio.fail_after(10):
            await a.aclose()
            await b.aclose()
