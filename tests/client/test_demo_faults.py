"""The client against the real demo server, through the fault-injecting proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import aclosing

import anyio
import httpx
import pytest

from agent_stream.client import AgentStreamClient
from tests.faultproxy import Fault, FaultProxy, random_plan

from .processes import ServerProcess, serve, uvicorn, wait_until
from .test_client import Sleeps, collect, text_of

pytestmark = pytest.mark.anyio

DEMO = uvicorn("agent_stream.demo.app:create_app_from_env", "--factory", "--no-access-log")


@pytest.fixture(scope="module")
def demo() -> Iterator[ServerProcess]:
    with serve(DEMO, env={"AGENT_STREAM_HEARTBEAT_S": "15"}) as server:
        yield server


def runs_started(server: ServerProcess) -> int:
    count: int = httpx.get(f"{server.url}/healthz", timeout=5).json()["runs_started"]
    return count


async def test_100_drops_in_a_10000_event_run_lose_and_repeat_nothing(
    demo: ServerProcess,
) -> None:
    request = {"message": "fault test", "tokens": 10_000, "token_delay_ms": 0, "tools": 3}
    async with AgentStreamClient() as client:
        reference = await collect(client, f"{demo.url}/api/chat", json=request, timeout_s=60)
    assert reference[-1].type == "done" and client.reconnects == 0
    before = runs_started(demo)

    # 100 faults at random offsets (cut with FIN, reset with RST, 4 half-open stalls that
    # only the liveness deadline detects); the first connection keeps its priming frame
    plan = random_plan(2024, faults=100, first_min_bytes=1500, max_bytes=12_000, stalls=4)
    async with FaultProxy(demo.port, plan=plan, max_stall_s=10) as proxy:
        async with AgentStreamClient(sleep=Sleeps(), max_retries=20, liveness_s=0.5) as client:
            events = await collect(client, f"{proxy.url}/api/chat", json=request, timeout_s=90)
    assert proxy.faults_fired == 100
    assert client.reconnects >= 100
    assert runs_started(demo) == before + 1

    seqs = [e.seq for e in events if e.type != "start"]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    assert [e.type for e in events].count("done") == 1 and events[-1].type == "done"
    assert "synthetic" not in events[-1].data
    assert text_of(events) == text_of(reference) == client.state.text
    assert [e.type for e in events] == [e.type for e in reference]
    assert [e.data for e in events[1:-1]] == [e.data for e in reference[1:-1]]


async def test_stop_cancels_the_run_on_the_demo_server(demo: ServerProcess) -> None:
    request = {"tokens": 100_000, "token_delay_ms": 5}
    seen = []
    async with AgentStreamClient() as client:
        with anyio.fail_after(20):
            async with aclosing(client.stream(f"{demo.url}/api/chat", json=request)) as stream:
                async for event in stream:
                    seen.append(event)
                    if len(seen) == 10:
                        await client.stop()
    assert seen[-1].type == "done" and seen[-1].data["reason"] == "cancelled"
    assert "synthetic" not in seen[-1].data  # the server's own done
    assert len(seen) < 1000 and client.state.is_done and not client.state.is_streaming

    def idle() -> bool:
        active: int = httpx.get(f"{demo.url}/healthz", timeout=5).json()["runs_active"]
        return active == 0

    wait_until(idle, timeout_s=10)


async def test_killed_demo_server_ends_the_stream_with_synthetic_done() -> None:
    with serve(DEMO, env={"AGENT_STREAM_HEARTBEAT_S": "1"}) as server:
        async with AgentStreamClient(max_retries=3, sleep=Sleeps()) as client:
            request = {"tokens": 100_000, "token_delay_ms": 2}
            events = []
            killed_at = 0.0
            with anyio.fail_after(20):
                async with aclosing(client.stream(f"{server.url}/api/chat", json=request)) as it:
                    async for event in it:
                        events.append(event)
                        if len(events) == 20:
                            server.kill()
                            killed_at = time.monotonic()
            ended_after = time.monotonic() - killed_at
    assert events[-1].type == "done" and events[-1].data["synthetic"] is True
    assert events[-1].data["reason"] == "interrupted"
    assert not client.state.is_streaming and client.failure is not None
    assert ended_after < 1 * 2.5 + 1.0  # the liveness deadline of a 1 s heartbeat


async def test_half_open_demo_connection_is_detected_by_liveness() -> None:
    # heartbeats every 0.2 s: liveness 1.5 s; the proxy stalls the first connection
    with serve(DEMO, env={"AGENT_STREAM_HEARTBEAT_S": "0.2"}) as server:
        plan = lambda n: Fault("stall", 3000) if n == 0 else None  # noqa: E731
        async with FaultProxy(server.port, plan=plan, max_stall_s=20) as proxy:
            async with AgentStreamClient(sleep=Sleeps()) as client:
                started = time.monotonic()
                request = {"tokens": 300, "token_delay_ms": 1}
                events = await collect(client, f"{proxy.url}/api/chat", json=request)
                elapsed = time.monotonic() - started
    assert proxy.faults_fired == 1 and client.reconnects == 1
    assert events[-1].type == "done" and "synthetic" not in events[-1].data
    assert 1.5 <= elapsed < 10
