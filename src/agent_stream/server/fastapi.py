"""FastAPI integration: ``agent_stream_response(source, **options)``, the original one-liner.

Example (typed events)::

    from agent_stream import Token, ToolUse
    from agent_stream.fastapi import agent_stream_response
    from agent_stream.starlette import AgentStreamResponse

    @app.post("/api/chat")
    async def chat(req: ChatRequest):
        async def agent():
            yield ToolUse(tool_name="search", tool_use_id="tu_1")
            yield Token(text="Hello")
        return agent_stream_response(agent())

    # or let FastAPI call the generator, like its own EventSourceResponse:
    @app.post("/api/chat2", response_class=AgentStreamResponse)
    async def chat2(req: ChatRequest):
        yield Token(text="Hello")

The original style, an async generator of frames from ``AgentStreamEmitter()``, works unchanged
and gets ids, heartbeats, resume and the exactly-one-``done`` guarantee.
"""

from __future__ import annotations

from typing import Any

from .run import Source
from .starlette import AgentStreamResponse

__all__ = ["agent_stream_response"]


def agent_stream_response(source: Source, **options: Any) -> AgentStreamResponse:
    """Wrap an agent's event stream (typed events or emitter frames) in a streaming response.

    ``options`` are those of :class:`AgentStreamResponse` (``owner``, ``disconnect``,
    ``heartbeat_s``, ``recorder``, ``manager``, ...).
    """
    return AgentStreamResponse(source, **options)
