"""Give up when the server would: a frozen server (socket open, silent) ends the stream in time."""

from __future__ import annotations

import signal
import time
from contextlib import aclosing

import anyio
import pytest

from agent_stream.client import AgentStreamClient, StreamEvent
from agent_stream.errors import ResumeError

from .processes import serve, uvicorn

pytestmark = pytest.mark.anyio

WINDOW_S = 2.0  # frozen_app: resume grace 1 s + events kept 1 s
LIVENESS_S = 3.5  # 2.5 x the 1 s heartbeat + 1 s


async def test_a_frozen_server_is_given_up_within_the_window_plus_one_liveness_deadline() -> None:
    with serve(uvicorn("tests.client.frozen_app:app", "--no-access-log")) as server:
        events: list[StreamEvent] = []
        frozen_at: float | None = None
        try:
            async with AgentStreamClient() as client:
                with anyio.fail_after(30):
                    stream = client.stream(f"{server.url}/api/chat", json={})
                    async with aclosing(stream) as events_in:
                        async for event in events_in:
                            events.append(event)
                            if len(events) == 20:
                                # the whole process stops: the kernel still accepts
                                # connections, nothing is read or written
                                server.proc.send_signal(signal.SIGSTOP)
                                frozen_at = time.monotonic()
                ended_at = time.monotonic()
        finally:
            server.proc.send_signal(signal.SIGCONT)
    assert events[0].type == "start" and events[0].data["resume_window_ms"] == 2000
    assert events[-1].is_synthetic and events[-1].data["reason"] == "interrupted"
    assert isinstance(client.failure, ResumeError) and client.failure.code == "expired"
    assert frozen_at is not None
    waited = ended_at - frozen_at
    # the window counts from the last byte, which came at most one token interval before
    assert WINDOW_S - 0.1 <= waited <= WINDOW_S + LIVENESS_S + 0.5, waited
