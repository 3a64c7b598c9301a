"""AgentStreamResponse and the app's manager: a response never changes its manager."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.types import Message, Scope

from agent_stream import Token, UsageError
from agent_stream.server import MemoryStore, RunManager
from agent_stream.starlette import AgentStreamResponse

pytestmark = pytest.mark.anyio


async def agent() -> AsyncIterator[Token]:
    yield Token(text="never")  # pragma: no cover - the response refuses before starting


async def receive() -> Message:  # pragma: no cover - never reached
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:  # pragma: no cover - never reached
    raise AssertionError(f"sent {message}")


def scope_of(app: Starlette) -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], "app": app}


async def test_a_response_with_another_store_refuses_and_leaves_the_manager_alone() -> None:
    app = Starlette()
    ours = MemoryStore()
    manager = app.state.agent_stream = RunManager(ours, handle_signals=False)
    response = AgentStreamResponse(agent(), store=MemoryStore())
    with pytest.raises(UsageError) as info:
        await response(scope_of(app), receive, send)
    assert info.value.code == "store-mismatch"
    assert manager.store is ours and manager.runs_started == 0


async def test_the_first_response_makes_the_apps_manager_with_its_store() -> None:
    app = Starlette()
    store = MemoryStore()
    response = AgentStreamResponse(agent(), store=store)
    assert response._manager(scope_of(app)).store is store
    assert app.state.agent_stream.store is store
