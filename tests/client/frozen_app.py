"""A real agent-stream app for the frozen-server test, run by uvicorn in its own process.

Heartbeat 1 s, disconnected runs kept 1 s (``grace``), their events 1 s after the end: its
``start`` event announces a resume window of 2 s. The agent sends a token every 50 ms for a
minute; the test freezes the whole process (SIGSTOP) mid-run: sockets stay open, nothing moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_stream.events import AgentEvent, Token
from agent_stream.server import MemoryStore, RunManager, StreamOptions
from agent_stream.starlette import AgentStreamResponse

manager = RunManager(
    MemoryStore(ttl_s=1.0),
    options=StreamOptions(heartbeat_s=1.0, disconnect="grace", resume_grace_s=1.0),
    handle_signals=False,
)


async def agent() -> AsyncIterator[AgentEvent]:
    for i in range(1200):
        yield Token(text=f"t{i} ")
        await anyio.sleep(0.05)


async def chat(request: Request) -> Response:
    await request.body()
    return AgentStreamResponse(agent(), manager=manager)


app = Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])
