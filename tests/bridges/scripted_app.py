"""An app serving the bridge routes with an agent that yields the events each request names.

For peer tests (js/e2e/bridge-peers.e2e.mjs): AG-UI's ``forwardedProps`` or the useChat body
carry ``events`` (a list of ``{"type", "data"}``, any type, known or not) and ``delay_ms``
(a pause before each event), so the real clients can be fed any run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import msgspec
from ag_ui.core import RunAgentInput
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_stream.bridges.ag_ui import ag_ui_routes
from agent_stream.bridges.ai_sdk import ChatRequest, ai_sdk_routes
from agent_stream.events import AgentEvent, JSONValue, parse_event
from agent_stream.starlette import mount_stream_routes


async def scripted(events: JSONValue, delay_ms: JSONValue) -> AsyncIterator[AgentEvent]:
    pause_s = delay_ms / 1000 if isinstance(delay_ms, int | float) else 0.0
    for item in events if isinstance(events, list) else []:
        assert isinstance(item, dict), item
        if pause_s:
            await anyio.sleep(pause_s)
        # as JSON text, so data of any shape (a string too) is the event's data as sent
        yield parse_event(str(item["type"]), msgspec.json.encode(item.get("data", {})))


def for_ag_ui(run_input: RunAgentInput) -> AsyncIterator[AgentEvent]:
    props = run_input.forwarded_props if isinstance(run_input.forwarded_props, dict) else {}
    return scripted(props.get("events"), props.get("delay_ms"))


def for_ai_sdk(chat: ChatRequest) -> AsyncIterator[AgentEvent]:
    return scripted(chat.body.get("events"), chat.body.get("delay_ms"))


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            *ag_ui_routes("/api/ag-ui", for_ag_ui),
            *ai_sdk_routes("/api/ai-sdk/chat", for_ai_sdk),
        ]
    )
    mount_stream_routes(app)
    return app
