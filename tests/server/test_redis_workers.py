"""Two workers on one real redis-server: the grace policy and stop reach the producing worker.

The test app (tests/server/app.py) runs under uvicorn twice with ``TEST_REDIS_URL``; each agent
counts ``finally`` under its tag in the process that runs it, which ``/wait/<tag>`` reports.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from tests.redis_helpers import RedisServer
from tests.server.conftest import Frame, frames
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LEASE_S = 1.0
GRACE_S = 1.0


def worker(redis: RedisServer) -> UvicornProcess:
    return UvicornProcess(
        "tests.server.app:create_app",
        factory=True,
        args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
        env={"TEST_REDIS_URL": f"{redis.url}?prefix=workers&lease_s={LEASE_S}&ttl_s=60"},
    )


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[UvicornProcess, UvicornProcess]]:
    with worker(redis_server) as a, worker(redis_server) as b:
        yield a, b


def owner() -> dict[str, str]:
    return {"authorization": f"Bearer {uuid.uuid4().hex}"}


def events_of(seen: list[Frame]) -> list[Frame]:
    return [f for f in seen if f.event not in (None, "start")]


def reason(done: Frame) -> str:
    value: str = json.loads(done.data or "{}").get("reason", "completed")
    return value


async def read(
    reader: AsyncIterator[Frame], seen: list[Frame], *, stop_after: int | None = None
) -> None:
    """Append the frames ``reader`` yields to ``seen`` until ``done`` or ``stop_after`` events."""
    count = 0
    async for frame in reader:
        seen.append(frame)
        if frame.event in (None, "start"):
            continue
        count += 1
        if frame.event == "done" or (stop_after is not None and count >= stop_after):
            return


async def finally_ran(client: httpx.AsyncClient, url: str, tag: str, timeout_s: float) -> bool:
    r = await client.get(f"{url}/wait/{tag}", params={"key": "finally", "timeout_s": timeout_s})
    reached: bool = r.json()["reached"]
    return reached


async def test_a_resume_on_the_other_worker_keeps_the_run_alive_past_its_grace(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    who, tag = owner(), f"grace-{uuid.uuid4().hex[:8]}"
    # 300 tokens 10 ms apart: the run outlives GRACE_S several times over
    query: dict[str, str | int | float] = {
        "tag": tag,
        "n": 300,
        "delay_ms": 10,
        "disconnect": "grace",
        "grace_s": GRACE_S,
    }
    seen: list[Frame] = []
    with anyio.fail_after(60):
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream(
                "POST", f"{a.url}/chat", params=query, headers=who
            ) as response:
                await read(aiter(frames(response)), seen, stop_after=5)
            # the client dropped A and resumed on B: A must not cancel the run at GRACE_S
            async with client.stream(
                "GET",
                f"{b.url}/api/streams/{seen[-1].id.rsplit(':', 1)[0]}",  # type: ignore[union-attr]
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                assert response.status_code == 200
                await read(aiter(frames(response)), seen)
    events = events_of(seen)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done" and reason(events[-1]) == "completed"
    assert sum(e.event == "token" for e in events) == 300


async def test_leaving_the_other_worker_starts_the_grace_countdown(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    who, tag = owner(), f"leave-{uuid.uuid4().hex[:8]}"
    query: dict[str, str | int | float] = {
        "tag": tag,
        "n": 3000,
        "delay_ms": 10,
        "disconnect": "grace",
        "grace_s": GRACE_S,
    }
    seen: list[Frame] = []
    with anyio.fail_after(60):
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream(
                "POST", f"{a.url}/chat", params=query, headers=who
            ) as response:
                await read(aiter(frames(response)), seen, stop_after=5)
            stream_id = (seen[-1].id or "").rsplit(":", 1)[0]
            async with client.stream(
                "GET",
                f"{b.url}/api/streams/{stream_id}",
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                # read past the grace period on B, then leave B too
                await read(aiter(frames(response)), seen, stop_after=int(3 * GRACE_S / 0.01))
            assert seen[-1].event == "token", "the run ended while a client read it on B"
            # nobody reads anywhere now: A cancels the run after its grace
            assert await finally_ran(client, a.url, tag, timeout_s=20)
            async with client.stream(
                "GET",
                f"{b.url}/api/streams/{stream_id}",
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                await read(aiter(frames(response)), seen)
    events = events_of(seen)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done" and reason(events[-1]) == "cancelled"
    assert sum(e.event == "done" for e in events) == 1


async def test_stop_sent_to_the_other_worker_reaches_the_producer(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    with anyio.fail_after(90):
        async with httpx.AsyncClient(timeout=30) as client:
            for trial in range(6):
                who, tag = owner(), f"stop-{trial}-{uuid.uuid4().hex[:8]}"
                query: dict[str, str | int | float] = {
                    "tag": tag,
                    "n": 100_000,
                    "delay_ms": 5,
                    "disconnect": "detach",
                }
                seen: list[Frame] = []
                async with client.stream(
                    "POST", f"{a.url}/chat", params=query, headers=who
                ) as response:
                    reader = aiter(frames(response))
                    await read(reader, seen, stop_after=3)
                    stream_id = (seen[-1].id or "").rsplit(":", 1)[0]
                    stop_url = f"{b.url}/api/streams/{stream_id}/stop"
                    stopped = await client.post(stop_url, headers=who)
                    assert stopped.status_code == 200, stopped.text
                    assert stopped.json()["stopped"] is True, (trial, stopped.json())
                    # the agent's finally ran on A, and A's reader gets the stream's end
                    assert await finally_ran(client, a.url, tag, timeout_s=5)
                    await read(reader, seen)
                events = events_of(seen)
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
                assert events[-1].event == "done" and reason(events[-1]) == "cancelled"
                assert sum(e.event == "done" for e in events) == 1
                again = await client.post(stop_url, headers=who)
                assert again.status_code == 200 and again.json()["stopped"] is False
                foreign = await client.post(stop_url, headers=owner())
                assert foreign.status_code == 404


async def test_a_killed_workers_readers_lapse_and_the_grace_countdown_starts(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    a, _ = pair
    who, tag = owner(), f"killed-{uuid.uuid4().hex[:8]}"
    query: dict[str, str | int | float] = {
        "tag": tag,
        "n": 3000,
        "delay_ms": 10,
        "disconnect": "grace",
        "grace_s": GRACE_S,
    }
    seen: list[Frame] = []
    with worker(redis_server) as doomed, anyio.fail_after(60):
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream(
                "POST", f"{a.url}/chat", params=query, headers=who
            ) as response:
                await read(aiter(frames(response)), seen, stop_after=5)
            stream_id = (seen[-1].id or "").rsplit(":", 1)[0]
            async with client.stream(
                "GET",
                f"{doomed.url}/api/streams/{stream_id}",
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                await read(aiter(frames(response)), seen, stop_after=int(2 * GRACE_S / 0.01))
                assert seen[-1].event == "token", "the run ended while a client read it"
                # the reader's worker dies with its client connected: it never detaches
                doomed.signal(signal.SIGKILL)
                doomed.wait(10)
            # its reader lapses (lease_s), then A's grace runs out
            assert await finally_ran(client, a.url, tag, timeout_s=20)
            async with client.stream(
                "GET",
                f"{a.url}/api/streams/{stream_id}",
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                await read(aiter(frames(response)), seen)
    events = events_of(seen)
    assert events[-1].event == "done" and reason(events[-1]) == "cancelled"
    assert sum(e.event == "done" for e in events) == 1


async def test_stop_of_a_run_whose_worker_died_answers_interrupted(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    _, b = pair
    who, tag = owner(), f"dead-{uuid.uuid4().hex[:8]}"
    query: dict[str, str | int | float] = {
        "tag": tag,
        "n": 100_000,
        "delay_ms": 5,
        "disconnect": "detach",
    }
    seen: list[Frame] = []
    with worker(redis_server) as doomed, anyio.fail_after(60):
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream(
                "POST", f"{doomed.url}/chat", params=query, headers=who
            ) as response:
                await read(aiter(frames(response)), seen, stop_after=3)
                doomed.signal(signal.SIGKILL)
                doomed.wait(10)
            stream_id = (seen[-1].id or "").rsplit(":", 1)[0]
            stopped = await client.post(f"{b.url}/api/streams/{stream_id}/stop", headers=who)
            assert stopped.status_code == 200, stopped.text
            assert stopped.json() == {"stopped": False, "outcome": "interrupted"}
            async with client.stream(
                "GET",
                f"{b.url}/api/streams/{stream_id}",
                headers={**who, "last-event-id": seen[-1].id or ""},
            ) as response:
                await read(aiter(frames(response)), seen)
    events = events_of(seen)
    assert [e.event for e in events[-2:]] == ["error", "done"]
    assert reason(events[-1]) == "interrupted"


async def test_a_stop_that_reaches_a_run_after_its_done_answers_ended(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    """The producer has yielded done, Redis does not have it yet (the producer's commands are
    held), and a stop from the other worker reaches the producer then: the stream ended, so
    the stop answers ``ended`` (not ``stopped`` beside a ``done{completed}``)."""
    import redis.asyncio as aioredis

    from tests.holdproxy import HoldingProxy

    _, b = pair
    who, tag = owner(), f"late-stop-{uuid.uuid4().hex[:8]}"
    query: dict[str, str | int | float] = {
        "tag": tag,
        "n": 2,
        "gate": 1,
        "linger_s": 5,
        "disconnect": "detach",
    }
    seen: list[Frame] = []
    listener = aioredis.Redis.from_url(redis_server.url)
    async with HoldingProxy(redis_server.port) as proxy, listener.pubsub() as messages:
        await messages.psubscribe("workers:proc:*")
        held = UvicornProcess(
            "tests.server.app:create_app",
            factory=True,
            args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
            env={
                "TEST_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"
                "?prefix=workers&lease_s=5&ttl_s=60&op_timeout_s=5"
            },
        )
        await anyio.to_thread.run_sync(held.start)
        try:
            with anyio.fail_after(30):
                async with httpx.AsyncClient(timeout=20) as client:
                    async with client.stream(
                        "POST", f"{held.url}/chat", params=query, headers=who
                    ) as response:
                        reader = aiter(frames(response))
                        await read(reader, seen, stop_after=2)
                        stream_id = (seen[-1].id or "").rsplit(":", 1)[0]
                        proxy.hold()  # what the producer sends Redis from now on waits
                        await client.post(f"{held.url}/bump/{tag}", params={"key": "gate"})
                        ended = await client.get(
                            f"{held.url}/wait/{tag}", params={"key": "ended", "timeout_s": 10}
                        )
                        assert ended.json()["reached"]  # done is yielded, not in Redis yet
                        async with anyio.create_task_group() as tasks:
                            answers: list[httpx.Response] = []

                            async def stop() -> None:
                                answers.append(
                                    await client.post(
                                        f"{b.url}/api/streams/{stream_id}/stop", headers=who
                                    )
                                )

                            tasks.start_soon(stop)
                            # the stop is published to the producer (it hears it: only what it
                            # sends is held)
                            async for message in messages.listen():
                                if message["data"] == f"s {stream_id}".encode():
                                    break
                            # once it did, a producer that takes the stop acknowledges it: a
                            # write held behind its done (a bounded wait: none may come)
                            await proxy.wait_held(proxy.held + 1, timeout_s=1.0)
                            proxy.release()
                        await read(reader, seen)
        finally:
            proxy.release()
            await listener.aclose()
            await anyio.to_thread.run_sync(held.stop)
    events = events_of(seen)
    assert events[-1].event == "done" and reason(events[-1]) == "completed"
    assert sum(e.event == "done" for e in events) == 1
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json() == {"stopped": False, "outcome": "ended"}
