"""The bridge routes of the demo app under a real uvicorn: AG-UI and AI SDK runs, resume,
re-attach, stop, bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from ag_ui.core import Event
from pydantic import TypeAdapter

from tests.demo.conftest import APP, frames, read_run
from tests.server.conftest import Frame
from tests.uvicorn_helpers import UvicornProcess

from .test_ag_ui_encoder import check_order as check_ag_ui_order
from .test_ai_sdk_encoder import check_order as check_ai_sdk_order

pytestmark = pytest.mark.anyio
EVENT = TypeAdapter(Event)
KNOBS = {"message": "Porto ☕ 🎉", "tokens": 30, "token_delay_ms": 0, "tools": 2}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornProcess]:
    env = {"AGENT_STREAM_HEARTBEAT_S": "1"}
    with UvicornProcess(APP, factory=True, env=env, args=["--no-access-log"]) as process:
        yield process


def run_input(thread_id: str = "thread-1", **knobs: Any) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": f"run-{uuid.uuid4().hex[:8]}",
        "messages": [{"id": "u1", "role": "user", "content": "ignored: knobs name it"}],
        "forwardedProps": {**KNOBS, **knobs},
    }


def chat_body(chat_id: str, **knobs: Any) -> dict[str, Any]:
    return {
        "id": chat_id,
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
        "trigger": "submit-message",
        "messageId": None,
        **KNOBS,
        **knobs,
    }


async def read_frames(
    client: httpx.AsyncClient, method: str, url: str, *, stop_after: int | None = None, **kw: Any
) -> tuple[httpx.Response, list[Frame]]:
    got: list[Frame] = []
    async with client.stream(method, url, **kw) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            async for frame in frames(response):
                got.append(frame)
                if stop_after is not None and sum(f.data is not None for f in got) >= stop_after:
                    break
        else:
            await response.aread()
    return response, got


def payloads(got: list[Frame]) -> list[Any]:
    return [f.data if f.data == "[DONE]" else json.loads(f.data) for f in got if f.data]


async def our_text(client: httpx.AsyncClient, auth: dict[str, str], **knobs: Any) -> str:
    run = await read_run(client, "POST", "/api/chat", json={**KNOBS, **knobs}, headers=auth)
    return "".join(str(d["text"]) for d in run.data("token"))


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {uuid.uuid4().hex}"}


async def test_ag_ui_run_is_valid_and_carries_our_text(server: UvicornProcess) -> None:
    who = auth()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response, got = await read_frames(
            client, "POST", "/api/ag-ui", json=run_input(), headers=who
        )
        expected = await our_text(client, who)
    assert response.status_code == 200
    events = payloads(got)
    for event in events:
        EVENT.validate_python(event)
    check_ag_ui_order(events)
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text == expected and "Porto ☕ 🎉" in text
    calls = [e["toolCallName"] for e in events if e["type"] == "TOOL_CALL_START"]
    assert calls == ["web_search", "read_page"]
    assert sum(e["type"] == "TOOL_CALL_RESULT" for e in events) == 2
    # every event's group ends with our id; the priming block names the stream
    assert got[0].id is not None and got[0].id.endswith(":0") and got[0].data is None
    assert got[-1].id is not None and got[-1].id.startswith(got[0].id[:-1])


async def test_ag_ui_resume_with_last_event_id_sends_exactly_the_rest(
    server: UvicornProcess,
) -> None:
    who = auth()
    body = run_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        _, full = await read_frames(client, "POST", "/api/ag-ui", json=body, headers=who)
        ids = [f.id for f in full if f.id is not None]
        cursor = ids[len(ids) // 2]
        started = (await client.get("/healthz")).json()["runs_started"]
        response, rest = await read_frames(
            client, "POST", "/api/ag-ui", json=body, headers={**who, "Last-Event-ID": cursor}
        )
        stats = (await client.get("/healthz")).json()
    assert response.status_code == 200
    assert rest[0].id == cursor and rest[0].data is None
    after = next(i for i, f in enumerate(full) if f.id == cursor) + 1
    assert [f.raw for f in rest[1:]] == [f.raw for f in full[after:]]
    assert stats["runs_started"] == started  # a resume never starts a run


async def test_ag_ui_bad_input_is_400_not_5xx(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        missing = await client.post("/api/ag-ui", json={"threadId": "t"})
        not_json = await client.post("/api/ag-ui", content=b"{nope")
        bad_knob = await client.post("/api/ag-ui", json=run_input(tokens="many"))
        foreign = await client.post(
            "/api/ag-ui", json=run_input(), headers={"Last-Event-ID": "nosuchstream:3"}
        )
    for response in (missing, not_json, bad_knob):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid-request"
    assert foreign.status_code == 404


async def test_ag_ui_connect_replays_the_running_run_then_204_once_done(
    server: UvicornProcess,
) -> None:
    who = auth()
    thread = f"t-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        none = await client.get(f"/api/ag-ui/{thread}/stream", headers=who)
        assert none.status_code == 204
        body = run_input(thread, token_delay_ms=20, tokens=40)
        _, first = await read_frames(
            client, "POST", "/api/ag-ui", json=body, headers=who, stop_after=3
        )
        other_owner = await client.get(f"/api/ag-ui/{thread}/stream", headers=auth())
        _, attached = await read_frames(client, "GET", f"/api/ag-ui/{thread}/stream", headers=who)
        done = await client.get(f"/api/ag-ui/{thread}/stream", headers=who)
    assert other_owner.status_code == 204
    events = payloads(attached)
    check_ag_ui_order(events)
    assert [f.raw for f in attached[1:4]] == [f.raw for f in first[1:4]]
    assert done.status_code == 204


async def test_ai_sdk_chat_stream_resume_and_204(server: UvicornProcess) -> None:
    who = auth()
    chat = f"c-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert (await client.get(f"/api/ai-sdk/chat/{chat}/stream", headers=who)).status_code == 204
        body = chat_body(chat, token_delay_ms=20, tokens=40)
        response, first = await read_frames(
            client, "POST", "/api/ai-sdk/chat", json=body, headers=who, stop_after=5
        )
        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        resumed, replay = await read_frames(
            client, "GET", f"/api/ai-sdk/chat/{chat}/stream", headers=who
        )
        assert resumed.headers["x-vercel-ai-ui-message-stream"] == "v1"
        after = await client.get(f"/api/ai-sdk/chat/{chat}/stream", headers=who)
        expected = await our_text(client, who, token_delay_ms=0, tokens=40)
    out = payloads(replay)
    check_ai_sdk_order(out)
    assert out[: len(payloads(first))] == payloads(first)
    text = "".join(c["delta"] for c in out if isinstance(c, dict) and c["type"] == "text-delta")
    assert text == expected
    assert out[-2]["finishReason"] == "stop"
    assert after.status_code == 204


async def test_ai_sdk_failed_run_ends_with_error_chunk(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        _, got = await read_frames(
            client, "POST", "/api/ai-sdk/chat", json=chat_body("f1", fail_after=6)
        )
    out = payloads(got)
    check_ai_sdk_order(out)
    assert out[-3]["type"] == "error" and "fail_after" in out[-3]["errorText"]
    assert out[-2]["finishReason"] == "error"


async def test_ai_sdk_stop_cancels_the_run_and_its_finally_runs(server: UvicornProcess) -> None:
    who = auth()
    chat = f"s-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        before = (await client.get("/healthz")).json()["bridge_agents_closed"]
        body = chat_body(chat, token_delay_ms=50, tokens=400)
        async with client.stream("POST", "/api/ai-sdk/chat", json=body, headers=who) as response:
            got: list[Frame] = []
            stopped: dict[str, Any] = {}
            with anyio.fail_after(10):
                async for frame in frames(response):
                    got.append(frame)
                    if frame.data and '"text-delta"' in frame.data and not stopped:
                        stop = await client.post(f"/api/ai-sdk/chat/{chat}/stop", headers=who)
                        stopped = stop.json()
        again = await client.post(f"/api/ai-sdk/chat/{chat}/stop", headers=who)
        unknown = await client.post("/api/ai-sdk/chat/nope/stop", headers=who)
        stats = (await client.get("/healthz")).json()
    assert stopped == {"stopped": True}
    out = payloads(got)
    assert out[-3:] == [
        {"type": "abort", "reason": "cancelled"},
        {**out[-2], "type": "finish", "finishReason": "other"},
        "[DONE]",
    ]
    assert again.json() == {"stopped": False} and unknown.json() == {"stopped": False}
    assert stats["bridge_agents_closed"] >= before + 1
    assert sum(isinstance(c, dict) and c["type"] == "text-delta" for c in out) < 400


async def test_ag_ui_stop_cancels_the_threads_run_and_its_finally_runs(
    server: UvicornProcess,
) -> None:
    # HttpAgent.abortRun() only disconnects: without a stop route the run went on (the
    # disconnect policy's grace period) with no way for an AG-UI client to end it
    who = auth()
    thread = f"stop-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        before = (await client.get("/healthz")).json()["bridge_agents_closed"]
        body = run_input(thread, token_delay_ms=50, tokens=400)
        async with client.stream("POST", "/api/ag-ui", json=body, headers=who) as response:
            got: list[Frame] = []
            stopped: dict[str, Any] = {}
            with anyio.fail_after(10):
                async for frame in frames(response):
                    got.append(frame)
                    if frame.data and '"TEXT_MESSAGE_CONTENT"' in frame.data and not stopped:
                        stop = await client.post(f"/api/ag-ui/{thread}/stop", headers=who)
                        stopped = stop.json()
                        assert stop.headers["cache-control"] == "no-store"
        again = await client.post(f"/api/ag-ui/{thread}/stop", headers=who)
        other = await client.post(f"/api/ag-ui/{thread}/stop", headers=auth())
        stats = (await client.get("/healthz")).json()
    assert stopped == {"stopped": True}
    events = payloads(got)
    check_ag_ui_order(events)
    assert events[-1]["type"] == "RUN_FINISHED" and events[-1]["outcome"] == {"type": "cancelled"}
    assert sum(e["type"] == "TEXT_MESSAGE_CONTENT" for e in events) < 400
    assert again.json() == {"stopped": False}
    assert other.json() == {"stopped": False}  # another owner's thread of that name: none
    assert stats["bridge_agents_closed"] >= before + 1


async def test_ag_ui_question_is_an_interrupt_answered_by_the_next_runs_resume(
    server: UvicornProcess,
) -> None:
    who = auth()
    thread = f"q-{uuid.uuid4().hex[:6]}"
    body = run_input(thread, ask=True, tokens=5)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        with anyio.fail_after(10):
            _, first = await read_frames(client, "POST", "/api/ag-ui", json=body, headers=who)
        events = payloads(first)
        check_ag_ui_order(events)
        finished = events[-1]
        assert finished["type"] == "RUN_FINISHED" and finished["runId"] == body["runId"]
        (interrupt,) = finished["outcome"]["interrupts"]
        assert interrupt["message"] == "Which city should I plan for?"
        assert not any(e["type"] == "TEXT_MESSAGE_CONTENT" for e in events)  # it asks first

        wrong = await client.post(
            "/api/ag-ui",
            json={**run_input(thread), "resume": [{"interruptId": "nope", "status": "resolved"}]},
            headers=who,
        )
        assert wrong.status_code == 404
        answer = {
            **run_input(thread, ask=True, tokens=5),
            "resume": [{"interruptId": interrupt["id"], "status": "resolved", "payload": "Porto"}],
        }
        _, second = await read_frames(client, "POST", "/api/ag-ui", json=answer, headers=who)
        again = await client.post("/api/ag-ui", json=answer, headers=who)
    events = payloads(second)
    check_ag_ui_order(events)
    assert events[0] == {"type": "RUN_STARTED", "threadId": thread, "runId": answer["runId"]}
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text.startswith("You chose Porto. ")
    assert events[-1]["type"] == "RUN_FINISHED" and events[-1]["outcome"] == {"type": "success"}
    assert again.status_code == 409  # answered already


async def test_ai_sdk_tool_approval_round_trip(server: UvicornProcess) -> None:
    who = auth()
    chat = f"a-{uuid.uuid4().hex[:6]}"
    body = chat_body(chat, approve=True, tools=1, tokens=30, token_delay_ms=20)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        with anyio.fail_after(10):
            _, first = await read_frames(client, "POST", "/api/ai-sdk/chat", json=body, headers=who)
        out = payloads(first)
        request = next(c for c in out if c != "[DONE]" and c["type"] == "tool-approval-request")
        assert out[-2:] == [{"type": "finish", "finishReason": "tool-calls"}, "[DONE]"]
        assistant = {
            "id": out[0]["messageId"],
            "role": "assistant",
            "parts": [
                {
                    "type": "dynamic-tool",
                    "toolName": "web_search",
                    "toolCallId": request["toolCallId"],
                    "state": "approval-responded",
                    "input": {},
                    "approval": {"id": request["approvalId"], "approved": True},
                }
            ],
        }
        answer = {**body, "messages": [*body["messages"], assistant], "messageId": assistant["id"]}
        started = (await client.get("/healthz")).json()["runs_started"]
        _, second = await read_frames(client, "POST", "/api/ai-sdk/chat", json=answer, headers=who)
        stats = (await client.get("/healthz")).json()
    rest = payloads(second)
    assert rest[0] == {"type": "start", "messageId": assistant["id"]}
    output = next(c for c in rest if c != "[DONE]" and c["type"] == "tool-output-available")
    assert output["toolCallId"] == request["toolCallId"]
    assert not any(c != "[DONE]" and c["type"] == "tool-input-start" for c in rest)
    assert rest[-2]["finishReason"] == "stop"
    assert stats["runs_started"] == started  # the answer continued the run, started none


async def test_ai_sdk_resume_after_an_answered_approval_replays_past_it(
    server: UvicornProcess,
) -> None:
    who = auth()
    chat = f"r-{uuid.uuid4().hex[:6]}"
    body = chat_body(chat, approve=True, tools=1, tokens=40, token_delay_ms=30)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        with anyio.fail_after(15):
            _, first = await read_frames(client, "POST", "/api/ai-sdk/chat", json=body, headers=who)
            out = payloads(first)
            request = next(c for c in out if c != "[DONE]" and c["type"] == "tool-approval-request")
            part = {
                "type": "dynamic-tool",
                "toolName": "web_search",
                "toolCallId": request["toolCallId"],
                "state": "approval-responded",
                "input": {},
                "approval": {"id": request["approvalId"], "approved": True},
            }
            assistant = {"id": out[0]["messageId"], "role": "assistant", "parts": [part]}
            answer = {**body, "messages": [*body["messages"], assistant]}
            await read_frames(
                client, "POST", "/api/ai-sdk/chat", json=answer, headers=who, stop_after=3
            )
            _, replay = await read_frames(
                client, "GET", f"/api/ai-sdk/chat/{chat}/stream", headers=who
            )
    chunks_ = payloads(replay)
    kinds = [c if c == "[DONE]" else c["type"] for c in chunks_]
    assert kinds.count("start") == 2 and "tool-approval-request" in kinds
    assert chunks_[-2]["finishReason"] == "stop" and chunks_[-1] == "[DONE]"
    assert "text-delta" in kinds[kinds.index("tool-approval-request") :]


async def _raw_status(
    port: int, method: str, path: str, last_event_id: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    """Send a request whose Last-Event-ID is exactly ``last_event_id`` (httpx would strip a
    blank one); the answer's status and its first bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = "\r\n".join(lines) + f"\r\nLast-Event-ID:{last_event_id}\r\n\r\n"
    data = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head.encode() + body)
        while b"\r\n\r\n" not in data or len(data) < 2048:
            try:
                data += await stream.receive()
            except anyio.EndOfStream:
                break
    return int(data.split(b" ", 2)[1]), data


@pytest.mark.parametrize("route", ["ag-ui run", "ag-ui connect", "ai-sdk resume"])
async def test_a_blank_last_event_id_gets_400_malformed_id_like_our_route(
    server: UvicornProcess, route: str
) -> None:
    # PROTOCOL 5: a Last-Event-ID present at all asks for a resume; blank, it is malformed,
    # never a new run (nor "no id": a replay from the start)
    who = auth()
    chat, thread = f"c-{uuid.uuid4().hex[:6]}", f"t-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        # a chat and a thread with a run in progress, so a blank id taken as none streams
        slow = {"token_delay_ms": 20, "tokens": 40}
        await read_frames(
            client,
            "POST",
            "/api/ai-sdk/chat",
            json=chat_body(chat, **slow),
            headers=who,
            stop_after=2,
        )
        await read_frames(
            client,
            "POST",
            "/api/ag-ui",
            json=run_input(thread, **slow),
            headers=who,
            stop_after=2,
        )
        before = (await client.get("/healthz")).json()["runs_started"]
        method, path, body = {
            "ag-ui run": ("POST", "/api/ag-ui", json.dumps(run_input(thread)).encode()),
            "ag-ui connect": ("GET", f"/api/ag-ui/{thread}/stream", b""),
            "ai-sdk resume": ("GET", f"/api/ai-sdk/chat/{chat}/stream", b""),
        }[route]
        with anyio.fail_after(10):
            for blank in ("", " ", "\t  "):
                status, answer = await _raw_status(server.port, method, path, blank, who, body)
                assert status == 400, answer[:300]
                assert b'"code":"malformed-id"' in answer
        assert (await client.get("/healthz")).json()["runs_started"] == before


BRIDGE_POSTS = {"ag-ui": "/api/ag-ui", "ai-sdk": "/api/ai-sdk/chat"}


@pytest.mark.parametrize("route", sorted(BRIDGE_POSTS))
async def test_bridge_errors_are_typed_and_never_cached(server: UvicornProcess, route: str) -> None:
    path = BRIDGE_POSTS[route]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        not_json = await client.post(path, content=b"{nope", headers=auth())
        oversize = await client.post(path, content=b" " * ((1 << 20) + 1), headers=auth())
    assert not_json.status_code == 400
    assert oversize.status_code == 413
    assert oversize.json()["error"]["code"] == "body-too-large"
    for response in (not_json, oversize):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("route", sorted(BRIDGE_POSTS))
async def test_bridge_refuses_a_declared_oversize_body_before_reading_it(
    server: UvicornProcess, route: str
) -> None:
    # Content-Length says 100 MB and 10 bytes come: the answer is 413 from the header alone,
    # not a wait for bytes that never come
    head = (
        f"POST {BRIDGE_POSTS[route]} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    )
    data = b""
    with anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(head.encode() + b'{"id": "x"')
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]


async def test_ai_sdk_stop_answer_is_never_cached(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        answer = await client.post("/api/ai-sdk/chat/nope/stop", headers=auth())
    assert answer.json() == {"stopped": False}
    assert answer.headers["cache-control"] == "no-store"


async def test_ids_with_a_slash_re_attach_and_stop(server: UvicornProcess) -> None:
    # both clients put the id in the path as encodeURIComponent does: "a/b" is "a%2Fb", which
    # the server's routing sees decoded: the routes matched no id with a "/" (404)
    who = auth()
    thread, chat = f"team/{uuid.uuid4().hex[:6]} ☕", f"project/{uuid.uuid4().hex[:6]}"
    slow = {"token_delay_ms": 20, "tokens": 400}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        _, first = await read_frames(
            client, "POST", "/api/ag-ui", json=run_input(thread, **slow), headers=who, stop_after=3
        )
        at = f"/api/ag-ui/{quote(thread, safe='')}"
        attached, replay = await read_frames(
            client, "GET", f"{at}/stream", headers=who, stop_after=3
        )
        ag_ui_stop = await client.post(f"{at}/stop", headers=who)
        _, started = await read_frames(
            client,
            "POST",
            "/api/ai-sdk/chat",
            json=chat_body(chat, **slow),
            headers=who,
            stop_after=3,
        )
        at = f"/api/ai-sdk/chat/{quote(chat, safe='')}"
        resumed, again = await read_frames(client, "GET", f"{at}/stream", headers=who, stop_after=3)
        ai_sdk_stop = await client.post(f"{at}/stop", headers=who)
    assert attached.status_code == 200 and payloads(replay) == payloads(first)
    assert ag_ui_stop.json() == {"stopped": True}
    assert resumed.status_code == 200 and payloads(again) == payloads(started)
    assert ai_sdk_stop.json() == {"stopped": True}
