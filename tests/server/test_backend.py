"""The server runs on asyncio only: under another event loop it says so, and names the fix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
from starlette.types import Message, Scope

from agent_stream import Token, UsageError
from agent_stream.server import RunManager
from agent_stream.starlette import AgentStreamResponse


def test_a_response_under_trio_raises_a_usage_error_naming_the_fix() -> None:
    async def agent() -> AsyncIterator[Token]:
        yield Token(text="never")  # pragma: no cover - the response refuses to start

    sent: list[Message] = []

    async def receive() -> Message:  # pragma: no cover - never reached
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:  # pragma: no cover - never reached
        sent.append(message)

    manager = RunManager(handle_signals=False)
    response = AgentStreamResponse(agent(), manager=manager)
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [],
        "query_string": b"",
    }
    with pytest.raises(UsageError) as info:
        trio.run(response, scope, receive, send)
    assert info.value.code == "invalid-backend"
    assert "asyncio only" in info.value.message
    assert "uvicorn" in info.value.message and "--worker-class asyncio" in info.value.message
    assert sent == [] and manager.runs_started == 0
