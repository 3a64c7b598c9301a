"""A resume from an ended stream's last event answers 204 (an EventSource stops there), memory
and Redis, on the GET resume route and on the same request; earlier cursors still replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_stream.sse import SSEDecoder
from tests.redis_helpers import RedisServer
from tests.uvicorn_helpers import UvicornProcess

pytestmark = pytest.mark.anyio

AUTH = {"authorization": "Bearer ended"}
KNOBS = {"tokens": 4, "token_delay_ms": 0, "tools": 0, "thinking": False}


@pytest.fixture(scope="module", params=["memory", "redis"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"AGENT_STREAM_HEARTBEAT_S": "0.5"}
    if request.param == "memory":
        with UvicornProcess(
            "agent_stream.demo.app:create_app_from_env", factory=True, env=env
        ) as server:
            yield server.url
        return
    tmp: Path = tmp_path_factory.mktemp("redis")
    with RedisServer(tmp) as redis:
        env["AGENT_STREAM_REDIS_URL"] = f"{redis.url}?prefix=ended&ttl_s=60"
        with UvicornProcess(
            "agent_stream.demo.app:create_app_from_env", factory=True, env=env
        ) as server:
            yield server.url


async def run_to_done(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Start a run and read it to ``done``: its stream id and every event id after start."""
    response = await client.post("/api/chat", json=KNOBS, headers=AUTH)
    assert response.status_code == 200
    events = list(SSEDecoder().feed(response.content))
    assert events[0].event == "start" and events[-1].event == "done"
    return json.loads(events[0].data)["stream_id"], [e.id for e in events[1:]]


async def test_resume_from_the_last_event_of_an_ended_stream_is_204(demo: str) -> None:
    async with httpx.AsyncClient(base_url=demo, timeout=10) as client:
        sid, ids = await run_to_done(client)
        last = ids[-1]
        runs = (await client.get("/healthz")).json()["runs_started"]
        answers = [
            await client.get(f"/api/streams/{sid}", headers={**AUTH, "last-event-id": last}),
            await client.get(f"/api/streams/{sid}", params={"last_event_id": last}, headers=AUTH),
            await client.post("/api/chat", json=KNOBS, headers={**AUTH, "last-event-id": last}),
        ]
        for response in answers:
            assert response.status_code == 204, response.text
            assert response.content == b""
        # one event earlier still replays done, then ends; another owner still gets 404
        response = await client.get(
            f"/api/streams/{sid}", headers={**AUTH, "last-event-id": ids[-2]}
        )
        assert response.status_code == 200
        assert [e.event for e in SSEDecoder().feed(response.content)] == ["start", "done"]
        response = await client.get(
            f"/api/streams/{sid}", headers={"authorization": "Bearer other", "last-event-id": last}
        )
        assert response.status_code == 404
        # the POST carrying Last-Event-ID started nothing
        assert (await client.get("/healthz")).json()["runs_started"] == runs
