"""FastAPI apps for the server tests: the original one-liner style and ``response_class=``,
with the stream routes mounted (``create_app``) and without (the one-liner alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
from fastapi import FastAPI

from agent_stream import AgentStreamEmitter, Token, ToolUse
from agent_stream.fastapi import agent_stream_response
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes


def create_app(*, mount: bool = True) -> FastAPI:
    app = FastAPI()

    @app.post("/original")
    async def original(n: int = 3) -> AgentStreamResponse:
        async def generate() -> AsyncIterator[str]:
            emitter = AgentStreamEmitter()  # no stream id, as in agent-event-stream 0.1
            for i in range(n):
                yield emitter.token(f"t{i} ")
                await anyio.lowlevel.checkpoint()
            yield emitter.done(num_turns=1)

        return agent_stream_response(generate())

    @app.get("/typed", response_class=AgentStreamResponse)
    async def typed(n: int = 2) -> AsyncIterator[Token | ToolUse]:
        yield ToolUse(tool_name="search", tool_use_id="tu_1")
        for i in range(n):
            yield Token(text=f"t{i} ")

    if mount:
        mount_stream_routes(app)
    return app


def create_app_without_stream_routes() -> FastAPI:
    """The one-liner as a user may write it: no mount_stream_routes."""
    return create_app(mount=False)
