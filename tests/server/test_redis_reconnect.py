"""A non-persistent redis-server restarted under a live worker: pooled connections that Redis
closed are replaced, not answered with 503, and the log says what happened to old streams."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.faultproxy import Fault, FaultProxy
from tests.redis_helpers import RedisServer
from tests.server.conftest import frames
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

from agent_stream.server.redis import RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

STARTS = 50
SID = "r" * 22


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def worker(redis_server: RedisServer) -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.app:create_app",
        factory=True,
        args=["--no-access-log"],
        env={"TEST_REDIS_URL": f"{redis_server.url}?prefix=restart&lease_s=1"},
    ) as process:
        yield process


async def start(client: httpx.AsyncClient, tag: str) -> int:
    """Start one run and read it through ``done``; its status."""
    async with client.stream("POST", "/chat", params={"tag": tag, "n": 3}) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code
        async for frame in frames(response):
            if frame.event == "done":
                break
        return response.status_code


async def starts_at_once(client: httpx.AsyncClient, count: int) -> list[int]:
    statuses: list[int] = []

    async def one() -> None:
        statuses.append(await start(client, uuid.uuid4().hex[:8]))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
    return statuses


async def test_starts_right_after_a_redis_restart_get_no_503(
    redis_server: RedisServer, worker: UvicornProcess
) -> None:
    limits = httpx.Limits(max_connections=STARTS)
    async with httpx.AsyncClient(base_url=worker.url, timeout=30, limits=limits) as client:
        # fill the worker's pool with connections, then have Redis close every one of them
        assert await starts_at_once(client, STARTS) == [200] * STARTS
        redis_server.restart()
        statuses = await starts_at_once(client, STARTS)
    assert statuses.count(503) == 0, f"{statuses.count(503)} of {STARTS} starts got 503"
    assert statuses == [200] * STARTS


async def test_a_create_whose_reply_was_lost_is_sent_again_and_succeeds(
    redis_server: RedisServer,
) -> None:
    # redis-py sends a command again when its connection breaks before the reply: the create
    # already ran, and its second run must not find the stream "already existing"
    armed: list[Fault] = []
    async with FaultProxy(
        redis_server.port, plan=lambda n: armed.pop() if armed else None
    ) as proxy:
        direct = RedisStore.from_url(redis_server.url, prefix="lost-reply")
        probe = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix="lost-reply")
        store = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix="lost-reply")
        try:
            await direct.create("d" * 22, owner="o")  # Redis has the scripts: no NOSCRIPT below
            assert await probe.info(SID) is None  # one connection: its opening replies + 3 empty
            opening_bytes = proxy.stats.bytes_down - len(b"*0\r\n*0\r\n:0\r\n")
            # the store's first connection passes its opening replies and one byte of the
            # create's reply, then breaks
            armed.append(Fault("cut", opening_bytes + 1))
            await store.create(SID, owner="o")
            info = await store.info(SID)
        finally:
            with anyio.fail_after(5):
                for each in (store, probe, direct):
                    await each.aclose()
        assert proxy.faults_fired == 1
    assert info is not None and info.owner == "o" and info.last_seq == 0


async def test_a_run_lost_in_a_redis_restart_is_logged_as_lost_not_as_a_lapsed_lease(
    redis_server: RedisServer, worker: UvicornProcess
) -> None:
    tag = uuid.uuid4().hex[:8]
    query: dict[str, str | int] = {"tag": tag, "first_delay_s": 30, "disconnect": "detach"}
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as client:
        with anyio.fail_after(10):
            async with client.stream("POST", "/chat", params=query) as response:
                first = await anext(aiter(frames(response)))
        stream_id = json.loads(first.data or "")["stream_id"]
        redis_server.restart()  # without persistence: the run's keys are gone
        # its producer notices at its next lease renewal and gives the run up (the agent ends)
        ended = await client.get(f"/wait/{tag}", params={"key": "finally", "timeout_s": 10})
        assert ended.json()["reached"]
    # the worker logged it before the agent ended, but its output reaches this process through
    # a pipe read by a thread: wait for the line
    given_up = f"stream {stream_id}: giving it up"
    logged = await anyio.to_thread.run_sync(worker.wait_for_log, given_up, 10.0)
    lines = [line for line in worker.log_text().splitlines() if stream_id in line]
    assert logged, lines
    assert not any("lease" in line or "expired" in line for line in lines), lines
    assert any("gone from Redis" in line for line in lines), lines


async def test_an_answer_whose_reply_was_lost_is_sent_again_and_still_wins(
    redis_server: RedisServer,
) -> None:
    # the question board's claim, like the create above: its second run answers as its first
    expires_at_s = time.time() + 60
    faults: list[Fault | None] = []
    async with FaultProxy(
        redis_server.port, plan=lambda n: faults.pop(0) if faults else None
    ) as proxy:
        direct = RedisStore.from_url(redis_server.url, prefix="lost-answer")
        probe = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix="lost-answer")
        store = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix="lost-answer")
        try:
            asked = direct.question_board()
            for request_id in ("warm", "q"):  # "warm" loads the scripts into Redis
                await asked.open(SID, request_id, b"{}", expires_at_s=expires_at_s)
            assert await asked.claim(SID, "warm", b'"porto"', key="")
            assert await probe.info(SID) is None  # one connection: its opening replies + 3 empty
            opening_bytes = proxy.stats.bytes_down - len(b"*0\r\n*0\r\n:0\r\n")
            # the board's first connection is its pub/sub channel's, the second its claim's:
            # that one passes its opening replies and one byte of the claim's reply
            faults += [None, Fault("cut", opening_bytes + 1)]
            claimed = await store.question_board().claim(SID, "q", b'"lisbon"', key="")
            record = await asked.get(SID, "q")
        finally:
            with anyio.fail_after(5):
                for each in (store, probe, direct):
                    await each.aclose()
        assert proxy.faults_fired == 1
    assert claimed
    assert record is not None and (record.state, record.answer) == ("answered", b'"lisbon"')
