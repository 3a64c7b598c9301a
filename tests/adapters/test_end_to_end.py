"""An adapter's stream served by AgentStreamResponse on real uvicorn, read through drops."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agent_stream.client import AgentStreamClient
from tests.client.test_client import Sleeps, collect, text_of
from tests.faultproxy import Fault, FaultProxy
from tests.uvicorn_helpers import UvicornProcess

from .app import WORD

pytestmark = pytest.mark.anyio

# importing the SDKs (and LangGraph) takes seconds, many more on a loaded 2-CPU machine
SDK_START_S = 90.0

TOKENS = 2_000


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.adapters.app:create_app",
        factory=True,
        args=["--no-access-log"],
        ready_timeout_s=SDK_START_S,
    ) as process:
        yield process


async def runs_started(server: UvicornProcess) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        count: int = (await http.get(f"{server.url}/healthz")).json()["runs_started"]
    return count


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-sonnet-4-5-20250929"), ("openai", "gpt-4o-mini-2024-07-18")],
)
async def test_adapter_stream_survives_a_cut_and_a_reset(server, provider, model):
    before = await runs_started(server)
    # the first connection is cut (FIN) mid-stream, the second reset (RST), the third is clean
    faults = {0: Fault("cut", 6_000), 1: Fault("reset", 20_000)}
    request = {"provider": provider, "tokens": TOKENS}
    async with FaultProxy(server.port, plan=faults.get) as proxy:
        async with AgentStreamClient(sleep=Sleeps(), max_retries=5) as client:
            events = await collect(client, f"{proxy.url}/api/chat", json=request, timeout_s=60)
    assert proxy.faults_fired == 2 and client.reconnects == 2
    # one run: the resumes replayed it, they never started another
    assert await runs_started(server) == before + 1

    seqs = [e.seq for e in events if e.type != "start"]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    expected = "".join(f"{WORD}{i} " for i in range(TOKENS))
    assert text_of(events) == expected == client.state.text
    done = events[-1]
    assert done.type == "done" and [e.type for e in events].count("done") == 1
    assert done.data["model"] == model and done.data["output_tokens"] == TOKENS
    assert "synthetic" not in done.data
