"""An event over the server's max_event_bytes is never stored or sent: a typed error takes its
place and the run ends (policy "end") or goes on (policy "continue"); resumes read past it.

Real uvicorn (tests/server/oversize_app.py), with MemoryStore and with RedisStore, typed events
and emitter frames; the agent's oversize event is 5 MB.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from agent_stream.client import AgentStreamClient
from agent_stream.errors import UsageError
from agent_stream.server import StreamOptions
from tests.redis_helpers import RedisServer
from tests.uvicorn_helpers import UvicornProcess

from .conftest import Frame, frames

pytestmark = pytest.mark.anyio

BIG = 5_000_000


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornProcess]:
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if request.param == "redis":
            redis = stack.enter_context(RedisServer(tmp_path_factory.mktemp("redis")))
            env["TEST_REDIS_URL"] = redis.url
        yield stack.enter_context(
            UvicornProcess(
                "tests.server.oversize_app:create_app",
                factory=True,
                env=env,
                args=["--no-access-log"],
            )
        )


async def read(client: httpx.AsyncClient, url: str, **headers: str) -> tuple[list[Frame], int]:
    """The frames of one response (priming frame included) and its size in bytes."""
    with anyio.fail_after(30):
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            got = [f async for f in frames(response)]
            return got, response.num_bytes_downloaded


def data(frame: Frame) -> dict[str, object]:
    value = json.loads(frame.data or "")
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("style", ["typed", "frames"])
async def test_end_policy_sends_the_error_then_done_and_closes_the_agent(
    server: UvicornProcess, style: str
) -> None:
    tag = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=server.url) as client:
        got, size = await read(client, f"/chat?big={BIG}&style={style}&tag={tag}")
        closed = (await client.get(f"/finally/{tag}")).json()
    assert size < 100_000  # the 5 MB event never went on the wire
    start, *events = got
    assert data(start)["max_event_bytes"] == 1 << 20
    assert [f.event for f in events] == ["token", "error", "done"]
    error = data(events[1])
    assert error["error_type"] == "event-too-large"
    details = error["details"]
    assert isinstance(details, dict)
    assert details["event_type"] == "token"
    assert details["size_bytes"] == BIG + len('{"text":""}')
    assert details["max_event_bytes"] == 1 << 20
    assert details["policy"] == "end"
    assert data(events[2])["reason"] == "error"
    assert closed == {"finally": True}  # the agent was closed, not left running


async def test_continue_policy_goes_on_and_a_resume_reads_past_the_refused_event(
    server: UvicornProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        got, _ = await read(client, f"/chat?big={BIG}&policy=continue&kind=tool_result")
        start, *events = got
        assert [f.event for f in events] == ["token", "error", "token", "done"]
        assert [f.seq for f in events] == [1, 2, 3, 4]  # the refused event took no seq
        details = data(events[1])["details"]
        assert isinstance(details, dict)
        assert details["event_type"] == "tool_result" and details["policy"] == "continue"
        assert isinstance(details["size_bytes"], int) and details["size_bytes"] > BIG
        assert data(events[3])["reason"] == "completed"
        sid = str(data(start)["stream_id"])
        # resume from before the refused event's place, and from after it
        for cursor, expected in ((1, ["error", "token", "done"]), (2, ["token", "done"])):
            resumed, _ = await read(
                client, f"/api/streams/{sid}", **{"last-event-id": f"{sid}:{cursor}"}
            )
            assert [f.event for f in resumed[1:]] == expected
            assert data(resumed[0])["max_event_bytes"] == 1 << 20


async def test_the_python_client_sees_the_error_and_the_rest_of_the_stream(
    server: UvicornProcess,
) -> None:
    async with AgentStreamClient(max_retries=0) as client:
        with anyio.fail_after(30):
            events = [
                e
                async for e in client.stream(
                    f"{server.url}/chat?big={BIG}&policy=continue", method="GET"
                )
            ]
    assert [e.type for e in events] == ["start", "token", "error", "token", "done"]
    assert client.failure is None
    state = client.state
    assert state.text == "ab" and state.is_done
    assert state.error is not None and state.error.error_type == "event-too-large"


async def test_ask_with_an_oversize_question_raises_in_the_agent(server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        got, _ = await read(client, f"/chat?big={BIG}&policy=continue&kind=ask")
    events = got[1:]
    assert [f.event for f in events] == ["token", "error", "token", "token", "done"]
    assert data(events[1])["error_type"] == "event-too-large"
    assert data(events[2])["text"] == "caught event-too-large"  # nobody waits for an answer


@pytest.mark.parametrize(
    "options", [{"max_event_bytes": 1000}, {"max_event_bytes": 1.5e6}, {"oversize": "drop"}]
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(UsageError) as raised:
        StreamOptions(**options)
    assert raised.value.code == "invalid-option"
