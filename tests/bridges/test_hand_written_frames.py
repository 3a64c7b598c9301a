"""Agents that yield hand-written SSE frames (``json.dumps`` data, with its spaces) through the
bridges: the text of each message stays in its message, live and after a resume."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.server.conftest import Frame, frames
from tests.uvicorn_helpers import UvicornProcess

from .test_ag_ui_encoder import check_order as check_ag_ui_order
from .test_ai_sdk_encoder import check_order as check_ai_sdk_order

pytestmark = pytest.mark.anyio

EVENTS = [
    {"type": "token", "data": {"text": "Olá, ", "message_id": "m1"}},
    {"type": "token", "data": {"text": "first", "message_id": "m1"}},
    {"type": "token", "data": {"text": "second, ", "message_id": "m2"}},
    {"type": "thinking", "data": {"text": 'hmm, "quoted"'}},
    {"type": "token", "data": {"text": "plain, no id"}},
    {"type": "token", "data": {"text": "☕ third", "message_id": "m3"}},
    {"type": "done", "data": {}},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornProcess]:
    app = "tests.bridges.scripted_app:create_app"
    with UvicornProcess(app, factory=True, args=["--no-access-log"]) as process:
        yield process


async def read(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], **headers: str
) -> list[Frame]:
    got: list[Frame] = []
    with anyio.fail_after(10):
        async with client.stream("POST", url, json=body, headers=headers) as response:
            assert response.status_code == 200
            got.extend([frame async for frame in frames(response)])
    return got


def payloads(got: list[Frame]) -> list[Any]:
    return [f.data if f.data == "[DONE]" else json.loads(f.data) for f in got if f.data]


def ag_ui_body() -> dict[str, Any]:
    props = {"events": EVENTS, "as_frames": True}
    run_id = f"r-{uuid.uuid4().hex[:6]}"
    return {"threadId": "t", "runId": run_id, "messages": [], "forwardedProps": props}


async def test_ag_ui_keeps_each_messages_text_in_its_message(server: UvicornProcess) -> None:
    body = ag_ui_body()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        got = await read(client, "/api/ag-ui", body)
        events = payloads(got)
        # resume after each event: exactly the rest of the unbroken stream
        ids = [f.id for f in got if f.id is not None]
        for cursor in ids[1:-1]:
            rest = await read(client, "/api/ag-ui", body, **{"Last-Event-ID": cursor})
            assert payloads(rest) == events[len(payloads(got[: _after(got, cursor)])) :]
    check_ag_ui_order(events)
    content = [e for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert all(set(e) == {"type", "messageId", "delta"} for e in content), content
    texts: dict[str, str] = {}
    for e in content:
        texts[e["messageId"]] = texts.get(e["messageId"], "") + e["delta"]
    assert [texts["m1"], texts["m2"], texts["m3"]] == ["Olá, first", "second, ", "☕ third"]
    assert "plain, no id" in texts.values()


async def test_ai_sdk_keeps_each_messages_text_in_its_part(server: UvicornProcess) -> None:
    body = {"id": "c", "messages": [], "events": EVENTS, "as_frames": True}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        chunks = payloads(await read(client, "/api/ai-sdk/chat", body))
    check_ai_sdk_order(chunks)
    deltas = [c for c in chunks if isinstance(c, dict) and c["type"] == "text-delta"]
    assert all(set(c) == {"type", "id", "delta"} for c in deltas), deltas
    assert [(c["id"], c["delta"]) for c in deltas if c["id"].startswith("m")] == [
        ("m1", "Olá, "),
        ("m1", "first"),
        ("m2", "second, "),
        ("m3", "☕ third"),
    ]


def _after(got: list[Frame], cursor: str) -> int:
    """How many frames of ``got`` a client has once it read the one with id ``cursor``."""
    return next(i for i, f in enumerate(got, 1) if f.id == cursor)
