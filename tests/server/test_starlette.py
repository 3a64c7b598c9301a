"""AgentStreamResponse over a real uvicorn process: priming, headers, endings, errors."""

from __future__ import annotations

import json
import uuid

import anyio
import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

from .conftest import Frame, frames

pytestmark = pytest.mark.anyio


def tag() -> str:
    return uuid.uuid4().hex


async def read_all(client: httpx.AsyncClient, url: str, **kwargs: object) -> list[Frame]:
    out: list[Frame] = []
    with anyio.fail_after(10):
        async with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
            assert response.status_code == 200, await response.aread()
            async for frame in frames(response):
                out.append(frame)
    return out


async def wait_counter(
    client: httpx.AsyncClient, name: str, key: str, value: int = 1
) -> dict[str, int]:
    response = await client.get(
        f"/wait/{name}", params={"key": key, "value": value, "timeout_s": 5}
    )
    body: dict[str, int] = response.json()
    assert body["reached"], f"{key} of {name} never reached {value}: {body}"
    return body


async def test_stream_events_numbered_and_one_done(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        got = await read_all(client, f"/chat?tag={tag()}&n=3")
    start, *events = got
    assert start.event == "start" and start.retry == 1000
    sid = json.loads(start.data or "")["stream_id"]
    assert start.id == f"{sid}:0"
    assert [f.event for f in events] == ["token", "token", "token", "done"]
    assert [f.id for f in events] == [f"{sid}:{i}" for i in range(1, 5)]


@pytest.mark.parametrize("style", ["typed", "frames"])
async def test_exception_becomes_error_then_done(server: UvicornProcess, style: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        got = await read_all(client, f"/chat?tag={tag()}&n=5&fail_after=2&style={style}")
    assert [f.event for f in got[1:]] == ["token", "token", "error", "done"]
    error = json.loads(got[-2].data or "")
    assert error["error_type"] == "RuntimeError"
    assert error["message"] == "agent failed after 2 tokens"
    assert "traceback" not in json.dumps(error)
    assert json.loads(got[-1].data or "")["reason"] == "error"


@pytest.mark.parametrize("style", ["typed", "frames"])
async def test_missing_done_is_appended(server: UvicornProcess, style: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        got = await read_all(client, f"/chat?tag={tag()}&n=2&end=none&style={style}")
    assert [f.event for f in got[1:]] == ["token", "token", "done"]
    assert json.loads(got[-1].data or "")["reason"] == "completed"


@pytest.mark.parametrize("style", ["typed", "frames"])
async def test_second_done_dropped_and_source_drained(server: UvicornProcess, style: str) -> None:
    name = tag()
    async with httpx.AsyncClient(base_url=server.url) as client:
        got = await read_all(client, f"/chat?tag={name}&n=1&end=double&style={style}")
        assert [f.event for f in got[1:]] == ["token", "done"]
        await wait_counter(client, name, "drained")


async def test_priming_arrives_while_first_event_is_a_minute_away(
    server: UvicornProcess,
) -> None:
    # the agent's first event is 60 s away: a start frame inside the deadline can only be
    # the priming the response sends at once (no timing assertion: a deadline)
    async with httpx.AsyncClient(base_url=server.url) as client:
        with anyio.fail_after(15):
            async with client.stream("GET", f"/chat?tag={tag()}&first_delay_s=60") as response:
                first = await anext(aiter(frames(response)))
    assert first.event == "start"


async def test_headers(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        async with client.stream("GET", f"/chat?tag={tag()}&n=1") as response:
            headers = response.headers
            await response.aread()
    sid = headers["x-agent-stream-id"]
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert headers["x-agent-stream-resume-url"] == f"/api/streams/{sid}"
    assert "connection" not in headers or headers["connection"].lower() != "keep-alive"
    assert "content-length" not in headers


async def test_pings_while_idle(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        url = f"/chat?tag={tag()}&first_delay_s=2&n=1&heartbeat_s=0.2"
        got: list[Frame] = []
        with anyio.fail_after(5):
            async with client.stream("GET", url) as response:
                async for frame in frames(response):
                    got.append(frame)
                    if frame.comment is not None and len(got) >= 4:
                        break
    assert got[0].event == "start"
    assert json.loads(got[0].data or "")["heartbeat_ms"] == 200
    assert [f.comment for f in got[1:4]] == ["ping", "ping", "ping"]
    assert all(f.raw == b": ping" for f in got[1:4])


async def test_another_wire_format_is_one_framing_class(server: UvicornProcess) -> None:
    # NDJSONFraming (tests/server/app.py): the same run, store and resume, other bytes
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        url = f"/chat?tag={tag()}&n=3&framing=ndjson"
        with anyio.fail_after(10):
            response = await client.get(url)
        assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        opening, *lines = [json.loads(line) for line in response.text.splitlines()]
        assert opening["after"] == 0
        assert [(line["seq"], line["type"]) for line in lines] == [
            (1, "token"),
            (2, "token"),
            (3, "token"),
            (4, "done"),
        ]
        assert lines[1]["data"] == {"text": "t1 "}
        resumed = await client.get(url, headers={"last-event-id": f"{opening['stream']}:2"})
        assert [json.loads(line) for line in resumed.text.splitlines()] == [
            {"stream": opening["stream"], "after": 2},
            *lines[2:],
        ]
