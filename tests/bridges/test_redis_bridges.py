"""The AI SDK resume route across processes: real redis-server, two demo processes. The resume
lands on the process that did not run the agent, and survives the producer's death."""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.redis_helpers import RedisServer
from tests.server.conftest import frames
from tests.uvicorn_helpers import UvicornProcess

from .test_ai_sdk_encoder import check_order

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
LEASE_S = 1.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@contextlib.contextmanager
def demo_pair(
    redis_server: RedisServer, prefix: str
) -> Iterator[tuple[UvicornProcess, UvicornProcess]]:
    """Two demo processes sharing one Redis key prefix: one store, one chat/thread index."""
    query = f"prefix={prefix}-{uuid.uuid4().hex[:6]}&lease_s={LEASE_S}"
    env = {"AGENT_STREAM_REDIS_URL": f"{redis_server.url}?{query}"}
    app = "agent_stream.demo.app:create_app_from_env"
    with (
        UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as a,
        UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as b,
    ):
        yield a, b


def chat_body(chat_id: str, **knobs: Any) -> dict[str, Any]:
    return {
        "id": chat_id,
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Faro"}]}],
        "trigger": "submit-message",
        "tools": 1,
        **knobs,
    }


async def chunks(response: httpx.Response, *, stop_after: int | None = None) -> list[Any]:
    out: list[Any] = []
    async for frame in frames(response):
        if frame.data is not None:
            out.append(frame.data if frame.data == "[DONE]" else json.loads(frame.data))
            if stop_after is not None and len(out) >= stop_after:
                break
    return out


def text(out: list[Any]) -> str:
    return "".join(c["delta"] for c in out if isinstance(c, dict) and c["type"] == "text-delta")


async def test_resume_lands_on_the_other_process(redis_server: RedisServer) -> None:
    who = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
    chat = f"c-{uuid.uuid4().hex[:6]}"
    with demo_pair(redis_server, "pair") as (a, b):
        async with httpx.AsyncClient(timeout=10, headers=who) as client:
            body = chat_body(chat, tokens=40, token_delay_ms=20)
            with anyio.fail_after(20):
                async with client.stream("POST", f"{a.url}/api/ai-sdk/chat", json=body) as first:
                    partial = await chunks(first, stop_after=8)
                async with client.stream(
                    "GET", f"{b.url}/api/ai-sdk/chat/{chat}/stream"
                ) as resumed:
                    assert resumed.status_code == 200
                    replay = await chunks(resumed)
                full = await client.post(
                    f"{a.url}/api/ai-sdk/chat", json=chat_body("other", tokens=40, token_delay_ms=0)
                )
            stats_a = (await client.get(f"{a.url}/healthz")).json()
            stats_b = (await client.get(f"{b.url}/healthz")).json()
    check_order(replay)
    assert replay[:8] == partial
    expected = [
        json.loads(line[6:]) for line in full.text.split("\n") if line.startswith("data: {")
    ]
    assert text(replay) == text(expected) and "Faro" in text(replay)
    assert replay[-2]["finishReason"] == "stop"
    assert (stats_a["runs_started"], stats_b["runs_started"]) == (2, 0)


async def test_resume_after_the_producer_died_ends_interrupted(redis_server: RedisServer) -> None:
    who = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
    chat = f"k-{uuid.uuid4().hex[:6]}"
    with demo_pair(redis_server, "kill") as (producer, other):
        async with httpx.AsyncClient(timeout=10, headers=who) as client:
            body = chat_body(chat, tokens=2000, token_delay_ms=20)
            with anyio.fail_after(20):
                async with client.stream(
                    "POST", f"{producer.url}/api/ai-sdk/chat", json=body
                ) as first:
                    await chunks(first, stop_after=12)
                producer.stop(signal.SIGKILL)
                async with client.stream(
                    "GET", f"{other.url}/api/ai-sdk/chat/{chat}/stream"
                ) as resumed:
                    assert resumed.status_code == 200
                    replay = await chunks(resumed)
    check_order(replay)
    assert replay[-2]["type"] == "finish" and replay[-2]["finishReason"] == "interrupted"
    assert replay[-1] == "[DONE]"


def ag_ui_body(thread: str, **knobs: Any) -> dict[str, Any]:
    return {
        "threadId": thread,
        "runId": f"run-{uuid.uuid4().hex[:8]}",
        "messages": [{"id": "u1", "role": "user", "content": "Faro"}],
        "forwardedProps": {"tools": 1, **knobs},
    }


async def ag_ui_events(response: httpx.Response, *, stop_after: int | None = None) -> list[Any]:
    """AG-UI events read, and the id of the last group read whole (the resume cursor)."""
    out: list[Any] = []
    async for frame in frames(response):
        if frame.data is not None:
            out.append(json.loads(frame.data))
        if frame.id is not None and stop_after is not None and len(out) >= stop_after:
            out.append({"last_event_id": frame.id})
            break
    return out


async def test_ag_ui_resume_reattach_and_stop_on_the_other_process(
    redis_server: RedisServer,
) -> None:
    who = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
    thread = f"t-{uuid.uuid4().hex[:6]}"
    with demo_pair(redis_server, "agui") as (a, b):
        async with httpx.AsyncClient(timeout=10, headers=who) as client:
            body = ag_ui_body(thread, tokens=400, token_delay_ms=20)
            with anyio.fail_after(20):
                async with client.stream("POST", f"{a.url}/api/ag-ui", json=body) as first:
                    partial = await ag_ui_events(first, stop_after=12)
                cursor = partial.pop()["last_event_id"]
                # the same POST with Last-Event-ID, on the process that does not run the agent
                resume = {**who, "Last-Event-ID": cursor}
                async with client.stream(
                    "POST", f"{b.url}/api/ag-ui", json=body, headers=resume
                ) as resumed:
                    assert resumed.status_code == 200
                    rest = await ag_ui_events(resumed, stop_after=10)
                rest.pop()
                async with client.stream("GET", f"{b.url}/api/ag-ui/{thread}/stream") as again:
                    assert again.status_code == 200
                    replay = await ag_ui_events(again, stop_after=len(partial) + len(rest))
                replay.pop()
                stop = await client.post(f"{b.url}/api/ag-ui/{thread}/stop")
                async with client.stream(
                    "POST", f"{b.url}/api/ag-ui", json=body, headers=resume
                ) as end:
                    ended = await ag_ui_events(end)
            stats_a = (await client.get(f"{a.url}/healthz")).json()
            stats_b = (await client.get(f"{b.url}/healthz")).json()
    assert replay == partial + rest  # the re-attach replays the thread's run from its start
    assert stop.json() == {"stopped": True}  # the stop reached the run on the other process
    assert ended[-1]["type"] == "RUN_FINISHED" and ended[-1]["outcome"] == {"type": "cancelled"}
    assert (stats_a["runs_started"], stats_b["runs_started"]) == (1, 0)
