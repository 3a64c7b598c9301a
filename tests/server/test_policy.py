"""Disconnect policies, stop, Idempotency-Key, and no leaked tasks."""

from __future__ import annotations

import json
import time
import uuid

import anyio
import httpx
import pytest

from tests.uvicorn_helpers import UvicornProcess

from .conftest import Frame, frames

pytestmark = pytest.mark.anyio


async def open_and_drop(client: httpx.AsyncClient, url: str, **kwargs: object) -> str:
    """Start a stream, read its priming frame, then drop the connection; the stream id."""
    with anyio.fail_after(5):
        async with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
            first = await anext(aiter(frames(response)))
    return str(json.loads(first.data or "")["stream_id"])


async def counters(
    client: httpx.AsyncClient, name: str, key: str, value: int = 1, timeout_s: float = 5
) -> dict[str, int]:
    r = await client.get(
        f"/wait/{name}", params={"key": key, "value": value, "timeout_s": timeout_s}
    )
    body: dict[str, int] = r.json()
    return body


async def replay(client: httpx.AsyncClient, sid: str, **headers: str) -> list[Frame]:
    with anyio.fail_after(10):
        async with client.stream(
            "GET", f"/api/streams/{sid}", headers={"last-event-id": f"{sid}:0", **headers}
        ) as response:
            assert response.status_code == 200
            return [f async for f in frames(response)][1:]


@pytest.mark.parametrize("first_delay_s", [30, 0])
async def test_cancel_policy_cancels_within_1s(
    server: UvicornProcess, first_delay_s: float
) -> None:
    """Also while the agent awaits its first token; its finally runs; done lands anyway."""
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&disconnect=cancel&first_delay_s={first_delay_s}&n=100000&delay_ms=50"
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid = await open_and_drop(client, url)
        dropped = time.monotonic()
        body = await counters(client, name, "finally", timeout_s=1)
        assert body["reached"], f"agent not cancelled within 1 s: {body}"
        assert time.monotonic() - dropped < 1.5
        events = await replay(client, sid)
    assert events[-1].event == "done"
    assert json.loads(events[-1].data or "")["reason"] == "cancelled"
    assert [f.event for f in events].count("done") == 1


async def test_detach_policy_keeps_running(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&disconnect=detach&first_delay_s=0.3&n=5&delay_ms=50"
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid = await open_and_drop(client, url)
        body = await counters(client, name, "finally")
        assert body["reached"]
        events = await replay(client, sid)
    assert [f.event for f in events] == ["token"] * 5 + ["done"]
    assert "reason" not in json.loads(events[-1].data or "")


async def test_grace_policy_cancels_after_grace(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&grace_s=0.5&first_delay_s=30"
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid = await open_and_drop(client, url)
        dropped = time.monotonic()
        early = await counters(client, name, "finally", timeout_s=0.3)
        assert not early["reached"], "cancelled before the grace period ended"
        body = await counters(client, name, "finally", timeout_s=3)
        assert body["reached"]
        assert 0.45 < time.monotonic() - dropped < 2.5
        events = await replay(client, sid)
    assert json.loads(events[-1].data or "")["reason"] == "cancelled"


async def test_grace_policy_reattach_keeps_the_run(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&grace_s=0.5&n=3&delay_ms=400"
    async with httpx.AsyncClient(base_url=server.url) as client:
        sid = await open_and_drop(client, url)
        events = await replay(client, sid)  # re-attached within the grace period
    assert [f.event for f in events] == ["token"] * 3 + ["done"]
    assert "reason" not in json.loads(events[-1].data or "")


async def test_stop_is_owner_checked_and_keeps_partial_output(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&n=100000&delay_ms=20"
    got: list[Frame] = []
    async with httpx.AsyncClient(base_url=server.url) as client:
        with anyio.fail_after(10):
            async with client.stream("GET", url, headers={"authorization": "alice"}) as r:
                async for frame in frames(r):
                    got.append(frame)
                    if len(got) == 3:
                        sid = json.loads(got[0].data or "")["stream_id"]
                        theirs = await client.post(
                            f"/api/streams/{sid}/stop", headers={"authorization": "bob"}
                        )
                        assert theirs.status_code == 404
                        assert theirs.json()["error"]["code"] == "unknown-stream"
                        mine = await client.post(
                            f"/api/streams/{sid}/stop", headers={"authorization": "alice"}
                        )
                        assert mine.status_code == 200
                        assert mine.json() == {"stopped": True, "outcome": "stopped"}
        assert (await counters(client, name, "finally"))["reached"]
        again = await client.post(f"/api/streams/{sid}/stop", headers={"authorization": "alice"})
        assert again.json() == {"stopped": False, "outcome": "ended"}
    assert got[-1].event == "done"
    assert json.loads(got[-1].data or "")["reason"] == "cancelled"
    assert [f.event for f in got[1:-1]] == ["token"] * (len(got) - 2)
    assert len(got) >= 4


async def test_idempotency_key_reattaches(server: UvicornProcess) -> None:
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&n=3&delay_ms=100"
    async with httpx.AsyncClient(base_url=server.url) as client:
        key = {"idempotency-key": uuid.uuid4().hex, "authorization": "alice"}
        first = await open_and_drop(client, url, headers=key)
        with anyio.fail_after(10):
            async with client.stream("GET", url, headers=key) as r:
                assert r.headers["x-agent-stream-id"] == first
                got = [f async for f in frames(r)]
        other_owner = await open_and_drop(client, url, headers={**key, "authorization": "bob"})
        body = await counters(client, name, "started", 2)
    assert json.loads(got[0].data or "")["resumed"] is True
    assert [f.event for f in got[1:]] == ["token"] * 3 + ["done"]
    assert other_owner != first
    assert body["started"] == 2  # alice's run once, bob's once


async def test_an_anonymous_idempotency_key_never_hands_out_another_requesters_stream(
    server: UvicornProcess,
) -> None:
    # Anonymous requesters share one owner (""): the key is all a second one needs to know,
    # so it must not find the first one's stream; the stream id alone gives access.
    name = uuid.uuid4().hex
    url = f"/chat?tag={name}&n=3&delay_ms=100"
    key = {"idempotency-key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=server.url) as client:
        first = await open_and_drop(client, url, headers=key)
        second = await open_and_drop(client, url, headers=key)
        body = await counters(client, name, "started", 2)
        got = await replay(client, first)  # the id is the capability
    assert second != first
    assert body["started"] == 2
    assert [f.event for f in got] == ["token"] * 3 + ["done"]


async def test_no_task_leaks(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        baseline = (await client.get("/healthz")).json()["tasks"]
        name = uuid.uuid4().hex
        for query in (
            "n=3",
            "n=3&fail_after=1",
            "disconnect=cancel&first_delay_s=30",
            "grace_s=0.2&first_delay_s=30",
            "n=2&end=double",
        ):
            await open_and_drop(client, f"/chat?tag={name}&{query}")
        await counters(client, name, "finally", 5)
        settled = (await client.get("/settle", params={"max": baseline})).json()
    assert settled["tasks"] <= baseline, settled
    assert settled["runs_active"] == 0 and settled["connections"] == 0
