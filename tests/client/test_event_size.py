"""Event size limits in the Python client (PROTOCOL 2.8), against a server that does not enforce
one (tests/client/app.py): an event over the client's limit ends the stream with a synthetic
done naming the option, without a retry; the limit follows the start event's max_event_bytes
unless the client sets its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import pytest

from agent_stream.client import AgentStreamClient
from agent_stream.errors import ProtocolError

from .processes import ServerProcess, serve, uvicorn
from .test_client import counts

pytestmark = pytest.mark.anyio

BIG = {"tokens": 2, "tools": 0, "big_token_chars": 2_000_000}  # a 2 MB token, over 1 MiB


@pytest.fixture(scope="module")
def test_app() -> Iterator[ServerProcess]:
    with serve(uvicorn("tests.client.app:app", "--no-access-log")) as server:
        yield server


async def test_an_oversize_event_ends_the_stream_with_a_synthetic_done(
    test_app: ServerProcess,
) -> None:
    resumes = counts(test_app).get("resumes", 0)
    async with AgentStreamClient(max_retries=3) as client:
        with anyio.fail_after(30):
            events = [e async for e in client.stream(f"{test_app.url}/api/chat", json=BIG)]
    assert [e.type for e in events] == ["start", "turn", "done"]
    assert events[-1].data == {**events[-1].data, "synthetic": True, "reason": "error"}
    failure = client.failure
    assert isinstance(failure, ProtocolError) and failure.code == "event-too-large"
    assert "limit of 1048576 bytes (set by the default)" in str(failure)
    assert "AgentStreamClient(max_event_bytes=...)" in str(failure)
    state = client.state
    assert state.is_done and not state.is_streaming and state.done is not None
    assert state.done.reason == "error"
    assert client.reconnects == 0 and counts(test_app).get("resumes", 0) == resumes


async def test_max_event_bytes_raises_the_limit(test_app: ServerProcess) -> None:
    async with AgentStreamClient(max_event_bytes=4 << 20) as client:
        with anyio.fail_after(30):
            events = [e async for e in client.stream(f"{test_app.url}/api/chat", json=BIG)]
    tokens = [str(e.data["text"]) for e in events if e.type == "token"]
    assert len(tokens[0]) == 2_000_000 and len(tokens) == 2
    assert events[-1].type == "done" and not events[-1].data.get("synthetic")
    assert client.failure is None


async def test_the_default_client_takes_the_size_start_announces(test_app: ServerProcess) -> None:
    async with AgentStreamClient() as client:
        with anyio.fail_after(30):
            big = [
                e
                async for e in client.stream(
                    f"{test_app.url}/api/chat", json={**BIG, "max_event_bytes": 4 << 20}
                )
            ]
            small = [
                e
                async for e in client.stream(
                    f"{test_app.url}/api/chat",
                    json={**BIG, "big_token_chars": 5000, "max_event_bytes": 2000},
                )
            ]
    assert big[-1].type == "done" and not big[-1].data.get("synthetic")
    assert len(str(big[2].data["text"])) == 2_000_000
    # a smaller announcement lowers the limit too: a 5 kB token is over 2000 bytes
    assert small[-1].data.get("synthetic") is True
    assert client.failure is not None and "set by the server's start event" in str(client.failure)


async def test_a_client_limit_wins_over_the_announcement_and_says_so(
    test_app: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "agent_stream")
    async with AgentStreamClient(max_event_bytes=1 << 20) as client:
        with anyio.fail_after(30):
            events = [
                e
                async for e in client.stream(
                    f"{test_app.url}/api/chat", json={**BIG, "max_event_bytes": 4 << 20}
                )
            ]
    assert events[-1].data.get("synthetic") is True
    assert "set by max_event_bytes" in str(client.failure)
    assert "over this client's max_event_bytes=1048576" in caplog.text
