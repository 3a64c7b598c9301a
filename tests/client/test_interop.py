"""The client reads streams of the original agent-event-stream 0.1.0 server (no ids)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_stream.client import AgentStreamClient, SyncAgentStreamClient

from .original_app import ORIGINAL, TEXT
from .processes import ServerProcess, serve, uvicorn
from .test_client import Sleeps, collect, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _original_is_there() -> None:
    if not ORIGINAL.exists():
        pytest.fail(f"{ORIGINAL} missing: run scripts/fetch-original.sh (scripts/test does)")


@pytest.fixture(scope="module")
def original_server() -> Iterator[ServerProcess]:
    with serve(uvicorn("tests.client.original_app:app")) as server:
        yield server


async def test_reads_an_original_stream(original_server: ServerProcess) -> None:
    async with AgentStreamClient() as client:
        events = await collect(client, f"{original_server.url}/chat", json={"tokens": 12})
    assert [e.type for e in events[:4]] == ["turn", "tool_use", "tool_result", "progress"]
    assert text_of(events) == "".join(f"{TEXT}{i} " for i in range(12))
    assert events[-1].type == "done" and events[-1].data["model"] == "orig"
    assert all(e.id == "" and e.seq is None for e in events)
    state = client.state
    assert state.is_done and not state.is_streaming and state.tools[0].tool_name == "search"
    assert state.progress is not None and state.progress.percentage == 100


async def test_a_dropped_original_stream_ends_with_synthetic_done(
    original_server: ServerProcess,
) -> None:
    # no ids: the client cannot resume and must not re-send the request
    sleeps = Sleeps()
    async with AgentStreamClient(sleep=sleeps) as client:
        events = await collect(
            client, f"{original_server.url}/chat", json={"tokens": 12, "drop_after": 5}
        )
    assert text_of(events) == "".join(f"{TEXT}{i} " for i in range(5))
    assert events[-1].data["synthetic"] is True and events[-1].data["reason"] == "interrupted"
    assert sleeps.calls == [] and client.reconnects == 0


def test_sync_client_reads_an_original_stream(original_server: ServerProcess) -> None:
    with SyncAgentStreamClient() as client:
        types = [e.type for e in client.stream(f"{original_server.url}/chat", json={"tokens": 3})]
        assert types[-1] == "done" and types.count("token") == 3
        assert client.state.text == "".join(f"{TEXT}{i} " for i in range(3))
