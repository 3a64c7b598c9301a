"""An app serving the bridge routes with an agent that yields the events each request names.

For peer tests (js/e2e/bridge-peers.e2e.mjs): AG-UI's ``forwardedProps`` or the useChat body
carry ``events`` (a list of ``{"type", "data"}``, any type, known or not), ``delay_ms`` (a
pause before each event) and ``as_frames`` (yield each as an SSE frame written with
``json.dumps``, spaces and all, as hand-written 0.1-style agents do), so the real clients can be
fed any run.
"""

from __future__ import annotations

import json
import os
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
from agent_stream.events import JSONValue, parse_event
from agent_stream.server.run import SourceItem
from agent_stream.starlette import mount_stream_routes


async def scripted(knobs: dict[str, JSONValue]) -> AsyncIterator[SourceItem]:
    events, delay_ms = knobs.get("events"), knobs.get("delay_ms")
    pause_s = delay_ms / 1000 if isinstance(delay_ms, int | float) else 0.0
    for item in events if isinstance(events, list) else []:
        assert isinstance(item, dict), item
        if pause_s:
            await anyio.sleep(pause_s)
        event_type, data = str(item["type"]), item.get("data", {})
        if knobs.get("as_frames"):
            yield f"event: {event_type}\ndata: {json.dumps(data)}\n\n"
        else:
            # as JSON text, so data of any shape (a string too) is the event's data as sent
            yield parse_event(event_type, msgspec.json.encode(data))


def for_ag_ui(run_input: RunAgentInput) -> AsyncIterator[SourceItem]:
    props = run_input.forwarded_props
    return scripted(props if isinstance(props, dict) else {})


def for_ai_sdk(chat: ChatRequest) -> AsyncIterator[SourceItem]:
    return scripted(chat.body)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    # SCRIPTED_INDEX_TTL_S: how long the bridges' chat/thread index keeps an entry
    ttl_s = float(os.environ.get("SCRIPTED_INDEX_TTL_S", "3600"))
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            *ag_ui_routes("/api/ag-ui", for_ag_ui, index_ttl_s=ttl_s),
            *ai_sdk_routes("/api/ai-sdk/chat", for_ai_sdk, index_ttl_s=ttl_s),
        ]
    )
    mount_stream_routes(app)
    return app
