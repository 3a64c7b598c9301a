"""``tool_loop(needs_approval=...)`` served by a RunManager: the adapters' loop over an OpenAI
client fed recorded wire bytes (tests/adapters/wire), the ``divide`` call needing a person's
approval. ``POST /ask`` streams it; the messages the model got back in its second turn are
streamed as a last token, so a test sees what the refusal told the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_stream import AgentEvent, Token
from agent_stream.adapters import tool_loop
from agent_stream.server import RunManager
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes
from tests.adapters.conftest import Recorded, openai_client, wire


async def clock() -> str:
    """The current time."""
    return "12:00"


async def divide(a: float, b: float) -> float:
    """a divided by b."""
    return a / b


async def slow_lookup(query: str) -> str:
    """Answers at once here."""
    return query


async def looping() -> AsyncIterator[AgentEvent]:
    recorded = Recorded([wire("chat_loop_turn1.sse"), wire("chat_loop_turn2.sse")])
    async for event in tool_loop(
        openai_client(recorded),
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "time, 1/0, Lisbon?"}],
        tools=[clock, divide, slow_lookup],
        needs_approval=lambda call: call.name == "divide",
    ):
        if event.type == "done":  # the loop's own done ends the stream: report before it
            yield Token(text=json.dumps(recorded.requests[-1]["messages"][-3:]))
        yield event


def create_app() -> Starlette:
    manager = RunManager(owner=lambda request: request.headers.get("authorization", ""))

    async def chat(request: Request) -> Response:
        return AgentStreamResponse(looping(), manager=manager)

    app = Starlette(routes=[Route("/ask", chat, methods=["POST"])])
    mount_stream_routes(app, manager)
    return app
