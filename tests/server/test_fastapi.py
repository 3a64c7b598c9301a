"""FastAPI: the original one-liner with emitter frames, and ``response_class=`` with yield."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def fastapi_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.fastapi_app:create_app", factory=True, args=["--no-access-log"]
    ) as process:
        yield process


def blocks(body: bytes) -> list[dict[str, str]]:
    out = []
    for block in body.decode().split("\n\n")[:-1]:
        out.append(dict(line.split(": ", 1) for line in block.split("\n")))
    return out


async def test_original_style_generator_gets_ids_and_resume(
    fastapi_server: UvicornProcess,
) -> None:
    async with httpx.AsyncClient(base_url=fastapi_server.url) as client:
        r = await client.post("/original?n=3")
        got = blocks(r.content)
        sid = r.headers["x-agent-stream-id"]
        assert [b["event"] for b in got] == ["start", "token", "token", "token", "done"]
        assert [b["id"] for b in got] == [f"{sid}:{i}" for i in range(5)]
        assert json.loads(got[1]["data"]) == {"text": "t0 "}
        again = await client.post("/original?n=3", headers={"last-event-id": f"{sid}:3"})
        assert [b["event"] for b in blocks(again.content)] == ["start", "done"]


async def test_response_class_with_yield(fastapi_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=fastapi_server.url) as client:
        r = await client.get("/typed?n=2")
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        got = blocks(r.content)
        assert [b["event"] for b in got] == ["start", "tool_use", "token", "token", "done"]
        sid = r.headers["x-agent-stream-id"]
        resumed = await client.get(f"/api/streams/{sid}", headers={"last-event-id": f"{sid}:1"})
        assert [b["event"] for b in blocks(resumed.content)] == ["start", "token", "token", "done"]


async def test_every_advertised_url_answers(fastapi_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=fastapi_server.url, timeout=5) as client:
        r = await client.post("/original?n=2")
        start = json.loads(blocks(r.content)[0]["data"])
        sid = start["stream_id"]
        assert start["resume_url"] == r.headers["x-agent-stream-resume-url"]
        resumed = await client.get(start["resume_url"], headers={"last-event-id": f"{sid}:1"})
        assert resumed.status_code == 200
        assert [b["event"] for b in blocks(resumed.content)] == ["start", "token", "done"]
        stopped = await client.post(start["stop_url"])
        assert stopped.status_code == 200
        assert stopped.json() == {"stopped": False, "outcome": "ended"}


async def test_without_stream_routes_no_url_is_advertised_and_resume_still_works() -> None:
    # the one-liner alone: nothing serves /api/streams/..., so no response may name it
    with UvicornProcess(
        "tests.server.fastapi_app:create_app_without_stream_routes", factory=True
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            r = await client.post("/original?n=2")
            start = json.loads(blocks(r.content)[0]["data"])
            assert (start["resume_url"], start["stop_url"]) == ("", "")
            assert "x-agent-stream-resume-url" not in r.headers
            sid = start["stream_id"]
            assert (await client.get(f"/api/streams/{sid}")).status_code == 404
            # the same request with Last-Event-ID is how such a stream resumes
            again = await client.post("/original?n=2", headers={"last-event-id": f"{sid}:2"})
            assert [b["event"] for b in blocks(again.content)] == ["start", "done"]
        assert "mount_stream_routes(app)" in server.log_text()
