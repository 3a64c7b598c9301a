"""A run that lasts longer than the bridges' index keeps an entry: its chat or thread still
re-attaches and stops (the entry is kept alive while the run goes on)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.server.conftest import frames
from tests.uvicorn_helpers import UvicornProcess

pytestmark = pytest.mark.anyio
TTL_S = 1.0
EVENTS = [{"type": "token", "data": {"text": f"{n} "}} for n in range(60)]  # 60 x 50 ms


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornProcess]:
    app = "tests.bridges.scripted_app:create_app"
    env = {"SCRIPTED_INDEX_TTL_S": str(TTL_S)}
    with UvicornProcess(app, factory=True, env=env, args=["--no-access-log"]) as process:
        yield process


async def outlive_the_index(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], at: str
) -> tuple[int, bool]:
    """Start a run at ``url``, and once it has run 2.5 x TTL_S, re-attach to it through
    ``at/stream`` (its status) and stop it through ``at/stop``."""
    with anyio.fail_after(10):
        async with client.stream("POST", url, json=body) as response:
            assert response.status_code == 200
            started = anyio.current_time()
            async for _ in frames(response):
                if anyio.current_time() - started > 2.5 * TTL_S:
                    break
        async with client.stream("GET", f"{at}/stream") as attached:
            status = attached.status_code
        stopped = (await client.post(f"{at}/stop")).json()["stopped"]
    return status, stopped


async def test_a_chat_outliving_the_index_ttl_re_attaches_and_stops(
    server: UvicornProcess,
) -> None:
    chat = f"long-{uuid.uuid4().hex[:6]}"
    body = {"id": chat, "messages": [], "events": EVENTS, "delay_ms": 50}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        at = f"/api/ai-sdk/chat/{chat}"
        assert await outlive_the_index(client, "/api/ai-sdk/chat", body, at) == (200, True)


async def test_a_thread_outliving_the_index_ttl_re_attaches_and_stops(
    server: UvicornProcess,
) -> None:
    thread = f"long-{uuid.uuid4().hex[:6]}"
    props = {"events": EVENTS, "delay_ms": 50}
    body = {"threadId": thread, "runId": "r1", "messages": [], "forwardedProps": props}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        at = f"/api/ag-ui/{thread}"
        assert await outlive_the_index(client, "/api/ag-ui", body, at) == (200, True)


async def first_chunk(response: httpx.Response) -> Any:
    async for frame in frames(response):
        if frame.data is not None:
            return json.loads(frame.data)
    raise AssertionError("no chunk")


async def test_an_older_run_never_takes_the_chats_entry_back(server: UvicornProcess) -> None:
    chat = f"twice-{uuid.uuid4().hex[:6]}"
    body = {"id": chat, "messages": [], "events": EVENTS, "delay_ms": 50}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        with anyio.fail_after(10):
            async with client.stream("POST", "/api/ai-sdk/chat", json=body) as first:
                older = await first_chunk(first)  # then it goes on, detached
            newer: Any = None
            async with client.stream("POST", "/api/ai-sdk/chat", json=body) as second:
                started = anyio.current_time()
                async for frame in frames(second):
                    if newer is None and frame.data is not None:
                        newer = json.loads(frame.data)
                    if anyio.current_time() - started > 1.5 * TTL_S:  # both kept their entry
                        break
            async with client.stream("GET", f"/api/ai-sdk/chat/{chat}/stream") as attached:
                assert attached.status_code == 200
                now = await first_chunk(attached)
    assert older["messageId"] != newer["messageId"]
    assert now == newer  # the chat's latest run, not the older one that refreshed its entry
