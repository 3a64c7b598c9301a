"""ask() across processes: two demo workers on one real redis-server, no sticky sessions."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from tests.redis_helpers import RedisServer
from tests.server.conftest import Frame, frames
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

QUERY = "prefix=hitl&lease_s=1&ttl_s=60"
KNOBS = {"ask": True, "tools": 0, "tokens": 3, "token_delay_ms": 0, "thinking": False}


def demo(redis: RedisServer) -> UvicornProcess:
    return UvicornProcess(
        "agent_stream.demo.app:create_app_from_env",
        factory=True,
        args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
        env={"AGENT_STREAM_REDIS_URL": f"{redis.url}?{QUERY}", "AGENT_STREAM_HEARTBEAT_S": "0.5"},
    )


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[UvicornProcess, UvicornProcess]]:
    with demo(redis_server) as a, demo(redis_server) as b:
        yield a, b


def owner() -> dict[str, str]:
    return {"Authorization": f"Bearer {uuid.uuid4().hex}"}


@asynccontextmanager
async def asking(
    url: str, headers: dict[str, str], **knobs: object
) -> AsyncIterator[tuple[dict[str, Any], AsyncIterator[Frame], list[Frame]]]:
    """POST /api/chat on ``url`` and read up to its input_required."""
    seen: list[Frame] = []
    async with (
        httpx.AsyncClient(base_url=url) as client,
        client.stream("POST", "/api/chat", json={**KNOBS, **knobs}, headers=headers) as response,
    ):
        assert response.status_code == 200
        reader = aiter(frames(response))
        async for frame in reader:
            seen.append(frame)
            if frame.event == "input_required":
                break
        question: dict[str, Any] = json.loads(seen[-1].data or "")
        yield question, reader, seen


async def rest(reader: AsyncIterator[Frame]) -> list[Frame]:
    return [f async for f in reader if f.event not in (None, "start")]


def text_of(events: list[Frame]) -> str:
    return "".join(json.loads(f.data or "")["text"] for f in events if f.event == "token")


async def answer(url: str, question: dict[str, Any], value: object, headers: dict[str, str]):
    async with httpx.AsyncClient(base_url=url) as client:
        return await client.post(
            question["respond_url"],
            json={"request_id": question["request_id"], "answer": value},
            headers=headers,
        )


async def test_an_answer_posted_to_the_other_worker_reaches_the_agent(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    who = owner()
    with anyio.fail_after(20):
        async with asking(a.url, who) as (question, reader, _):
            assert question["prompt"] == "Which city should I plan for?"
            assert question["choices"] == ["Lisbon", "Porto", "Faro"]
            assert question["allows_free_text"] is True
            foreign = await answer(b.url, question, "Porto", owner())
            bad = await answer(b.url, question, {"city": "Porto"}, who)
            answered = await answer(b.url, question, "Vila Real de Santo António", who)
            again = await answer(a.url, question, "Porto", who)
            events = await rest(reader)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "unknown-request"
    assert bad.status_code == 422 and "neither one of the choices nor text" in bad.text
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == "Vila Real de Santo António"
    assert again.status_code == 409
    assert events[0].event == "input_response"
    assert text_of(events).startswith("You chose Vila Real de Santo António. ")
    assert json.loads(events[-1].data or "").get("reason", "completed") == "completed"


async def test_expired_across_workers_410_and_the_agent_goes_on(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    who = owner()
    with anyio.fail_after(20):
        async with asking(a.url, who, ask_timeout_s=0.5) as (question, reader, _):
            events = await rest(reader)
            late = await answer(b.url, question, "Faro", who)
    assert late.status_code == 410 and late.json()["error"]["code"] == "input-expired"
    assert json.loads(events[0].data or "")["status"] == "expired"
    assert text_of(events).startswith("Nobody answered in time, so I picked Lisbon. ")


async def test_producer_killed_while_asking_interrupted_end_and_410(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    _, b = pair
    who = owner()
    with demo(redis_server) as doomed, anyio.fail_after(30):
        async with asking(doomed.url, who) as (question, _, seen):
            stream_id = json.loads(seen[0].data or "")["stream_id"]
            last_id = seen[-1].id or ""
            doomed.signal(signal.SIGKILL)
            doomed.wait(10)
        late = await answer(b.url, question, "Porto", who)
        async with (
            httpx.AsyncClient(base_url=b.url) as client,
            client.stream(
                "GET", f"/api/streams/{stream_id}", headers={**who, "Last-Event-ID": last_id}
            ) as resumed,
        ):
            events = await rest(aiter(frames(resumed)))
    assert late.status_code == 410 and late.json()["error"]["code"] == "input-closed"
    assert [f.event for f in events] == ["error", "done"]
    assert json.loads(events[-1].data or "")["reason"] == "interrupted"


async def test_a_producer_paused_past_its_lease_takes_no_answer_after_the_410(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    """A producer frozen while asking (a long GC or VM pause): its stream ends interrupted and
    an answer gets 410; once it wakes, it must not take that answer, so every later answer
    (the same Idempotency-Key included) gets the same 410 - not 409, not 200."""
    _, b = pair
    who = owner()
    retry = {**who, "Idempotency-Key": uuid.uuid4().hex}
    with demo(redis_server) as paused, anyio.fail_after(40):
        async with asking(paused.url, who) as (question, _, _):
            paused.signal(signal.SIGSTOP)
            try:
                late = await answer(b.url, question, "Porto", retry)
            finally:
                paused.signal(signal.SIGCONT)
        async with httpx.AsyncClient(base_url=paused.url) as client:
            # the woken producer winds its run down (polling another process: no event)
            while (await client.get("/healthz")).json()["runs_active"] > 0:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        again = await answer(b.url, question, "Porto", retry)
        other = await answer(b.url, question, "Faro", who)
    assert late.status_code == 410 and late.json()["error"]["code"] == "input-closed"
    assert again.status_code == 410, again.text
    assert other.status_code == 410, other.text


async def test_an_answer_too_large_for_the_run_is_refused_422_on_the_other_worker(
    redis_server: RedisServer,
) -> None:
    def worker() -> UvicornProcess:
        return UvicornProcess(
            "tests.server.questions_app:create_app",
            factory=True,
            args=["--no-access-log"],
            env={"AGENT_STREAM_REDIS_URL": f"{redis_server.url}?{QUERY}"},
        )

    who = owner()
    big = {"nights": 3, "note": "x" * 3000}  # fits the schema, not max_event_bytes=2048
    with worker() as a, worker() as b, anyio.fail_after(20):
        async with (
            httpx.AsyncClient(base_url=a.url) as client,
            client.stream(
                "POST", "/ask", params={"kind": "schema", "max_event_bytes": 2048}, headers=who
            ) as response,
        ):
            reader = aiter(frames(response))
            async for frame in reader:
                if frame.event == "input_required":
                    question = json.loads(frame.data or "")
                    break
            too_big = await answer(b.url, question, big, who)
            fine = await answer(b.url, question, {"nights": 3}, who)
            events = await rest(reader)
    assert too_big.status_code == 422, too_big.text
    assert "this run takes up to" in too_big.json()["error"]["reason"]
    assert fine.status_code == 200, fine.text
    assert events[0].event == "input_response"
    assert "error" not in [f.event for f in events]
    assert text_of(events).endswith('got {"nights": 3}')
