"""Resume with Last-Event-ID: replay then live, typed 4xx answers, owners."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

from .conftest import Frame, frames

pytestmark = pytest.mark.anyio


async def start_stream(
    client: httpx.AsyncClient, query: str, *, headers: dict[str, str] | None = None
) -> tuple[str, list[Frame]]:
    got: list[Frame] = []
    with anyio.fail_after(10):
        async with client.stream("GET", f"/chat?{query}", headers=headers) as response:
            async for frame in frames(response):
                got.append(frame)
    sid = json.loads(got[0].data or "")["stream_id"]
    return sid, got


async def test_resume_after_done_replays_to_done(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid, first = await start_stream(client, f"tag={uuid.uuid4().hex}&n=5")
        for url in (f"/chat?tag={uuid.uuid4().hex}", f"/api/streams/{sid}"):
            async with client.stream("GET", url, headers={"last-event-id": f"{sid}:2"}) as r:
                assert r.status_code == 200
                got = [f async for f in frames(r)]
            assert got[0].id == f"{sid}:2"
            assert json.loads(got[0].data or "")["resumed"] is True
            assert [f.raw for f in got[1:]] == [f.raw for f in first[3:]]
            assert got[-1].event == "done"
        # ?last_event_id= works on the resume route, and no id there means from the start
        r = await client.get(f"/api/streams/{sid}", params={"last_event_id": f"{sid}:4"})
        assert [b.split(b"\n")[1] for b in r.content.split(b"\n\n")[1:-1]] == [
            b"event: token",
            b"event: done",
        ]
        r = await client.get(f"/api/streams/{sid}")
        assert r.content.count(b"event: token") == 5


async def test_resume_never_starts_a_run(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid, _ = await start_stream(client, f"tag={name}&n=1")
        r = await client.get(f"/chat?tag={name}&n=1", headers={"last-event-id": f"{sid}:1"})
        assert r.status_code == 200
        r = await client.get(f"/chat?tag={name}", headers={"last-event-id": "nope:1"})
        assert r.status_code == 404
        body = (await client.get(f"/wait/{name}", params={"key": "started"})).json()
    assert body["started"] == 1


BAD_IDS = {
    "malformed": ("abc", 400),
    "no-seq": ("abcdefghijklmnopqrstuv:", 400),
    "negative": ("abcdefghijklmnopqrstuv:-1", 400),
    "ten-kb": ("a" * 10_240 + ":1", 400),
    "unknown": ("abcdefghijklmnopqrstuv:3", 404),
}


@pytest.mark.parametrize("case", sorted(BAD_IDS))
async def test_bad_last_event_id_is_a_typed_4xx(server: UvicornProcess, case: str) -> None:
    value, status = BAD_IDS[case]
    name = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=server.url) as client:
        # answered at once: a deadline, not a timing assertion (a stream would never end)
        with anyio.fail_after(10):
            r = await client.get(f"/chat?tag={name}", headers={"last-event-id": value})
        assert r.status_code == status
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["code"] == {400: "malformed-id", 404: "unknown-stream"}[status]
        counters = await client.get(f"/wait/{name}", params={"key": "started", "timeout_s": 0})
        assert counters.json()["started"] == 0


@pytest.mark.parametrize("raw", [b"\xc3\xa9t\xc3\xa9:1", b"abc\xff:1", b"id:1\r\nx: y"])
async def test_non_ascii_and_crlf_ids_are_400(server: UvicornProcess, raw: bytes) -> None:
    # httpx refuses such header values, so write the request by hand.
    request = (
        b"GET /chat?tag=raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Last-Event-ID: " + raw + b"\r\n\r\n"
    )
    with anyio.fail_after(2):
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            await stream.send(request)
            reply = b""
            try:
                while chunk := await stream.receive():
                    reply += chunk
            except anyio.EndOfStream:
                pass
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply


async def test_foreign_owner_gets_the_unknown_answer(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid, _ = await start_stream(
            client, f"tag={uuid.uuid4().hex}&n=1", headers={"authorization": "alice"}
        )
        mine = await client.get(
            f"/api/streams/{sid}", headers={"authorization": "alice", "last-event-id": f"{sid}:0"}
        )
        theirs = await client.get(
            f"/api/streams/{sid}", headers={"authorization": "bob", "last-event-id": f"{sid}:0"}
        )
        unknown = await client.get(
            "/api/streams/abcdefghijklmnopqrstuv",
            headers={"authorization": "bob", "last-event-id": "abcdefghijklmnopqrstuv:0"},
        )
    assert mine.status_code == 200
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown-stream"


@pytest.fixture(scope="module")
def small_store_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.app:create_app",
        factory=True,
        env={"TEST_MAX_EVENTS": "50"},
        args=["--no-access-log"],
    ) as process:
        yield process


async def test_trimmed_cursor_is_410_naming_earliest(small_store_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=small_store_server.url) as client:
        sid, got = await start_stream(client, f"tag={uuid.uuid4().hex}&n=200&delay_ms=0.2")
        assert len(got) == 202
        r = await client.get(f"/api/streams/{sid}", headers={"last-event-id": f"{sid}:3"})
        assert r.status_code == 410
        error = r.json()["error"]
        assert error["code"] == "expired"
        earliest = int(error["earliest_id"].rsplit(":", 1)[1])
        assert error["earliest_id"].startswith(f"{sid}:") and 152 <= earliest <= 160
        ok = await client.get(
            f"/api/streams/{sid}", headers={"last-event-id": f"{sid}:{earliest - 1}"}
        )
        assert ok.status_code == 200 and ok.content.count(b"\nevent: ") == 203 - earliest


async def test_resume_at_random_points_while_producing(server: UvicornProcess) -> None:
    """200 drops of a 5,000-event run: the union of what the client saw is the exact run."""
    name = uuid.uuid4().hex
    rng = random.Random(4)
    seen: list[int] = []
    async with httpx.AsyncClient(base_url=server.url) as client:
        url = f"/chat?tag={name}&n=4999&delay_ms=0.3&disconnect=detach"
        cut_points = sorted(rng.sample(range(1, 5000), 200))
        cursor: str | None = None
        sid = ""
        with anyio.fail_after(60):
            while True:
                headers = {"last-event-id": cursor} if cursor else {}
                limit = cut_points.pop(0) if cut_points else None
                async with client.stream("GET", url, headers=headers) as response:
                    assert response.status_code == 200
                    async for frame in frames(response):
                        if frame.event == "start":
                            sid = json.loads(frame.data or "")["stream_id"]
                            continue
                        assert frame.id is not None and frame.id.startswith(sid)
                        seen.append(frame.seq)
                        cursor = frame.id
                        if limit is not None and frame.seq >= limit:
                            break
                if seen and seen[-1] == 5000:
                    break
        body = (await client.get(f"/wait/{name}", params={"key": "started"})).json()
    assert seen == list(range(1, 5001))
    assert body["started"] == 1
