"""An event over the client's size limit raises event-too-large naming the option that raises
the limit: AgentStreamClient(max_event_bytes=...)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from agent_stream.client import AgentStreamClient
from agent_stream.errors import ProtocolError

from .processes import ServerProcess, serve, uvicorn

pytestmark = pytest.mark.anyio

BIG = {"tokens": 2, "tools": 0, "big_token_chars": 2_000_000}  # a 2 MB token, over 1 MiB


@pytest.fixture(scope="module")
def test_app() -> Iterator[ServerProcess]:
    with serve(uvicorn("tests.client.app:app", "--no-access-log")) as server:
        yield server


async def test_an_oversize_event_raises_and_names_the_option(test_app: ServerProcess) -> None:
    async with AgentStreamClient(max_retries=0) as client:
        with anyio.fail_after(30), pytest.raises(ProtocolError) as raised:
            _ = [e async for e in client.stream(f"{test_app.url}/api/chat", json=BIG)]
    assert raised.value.code == "event-too-large"
    assert "AgentStreamClient(max_event_bytes=...)" in str(raised.value)


async def test_max_event_bytes_raises_the_limit(test_app: ServerProcess) -> None:
    async with AgentStreamClient(max_event_bytes=4 << 20) as client:
        with anyio.fail_after(30):
            events = [e async for e in client.stream(f"{test_app.url}/api/chat", json=BIG)]
    tokens = [str(e.data["text"]) for e in events if e.type == "token"]
    assert len(tokens[0]) == 2_000_000 and len(tokens) == 2
    assert events[-1].type == "done" and not events[-1].data.get("synthetic")
    assert client.failure is None
