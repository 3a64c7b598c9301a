"""A test app whose agents ask questions (``ask`` / ``approve``), run under uvicorn.

``POST /ask?kind=K&timeout_s=S`` streams an agent that asks one question, then writes
``got <answer as JSON>`` (or ``timeout`` / ``cancelled``) and ends. Kinds: ``choices`` (strict
Lisbon / Porto / Faro), ``schema`` (an object with an integer ``nights`` from 1 to 14),
``approve`` (the tool ``book``); ``disconnect=cancel`` picks that policy, ``max_event_bytes=N``
that limit. The owner is the ``Authorization`` header; ``AGENT_STREAM_GRACE_S`` sets the
disconnect grace, ``AGENT_STREAM_REDIS_URL`` keeps the streams in Redis (several workers).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_stream import InputCancelledError, InputTimeoutError, Token
from agent_stream.events import JSONValue
from agent_stream.server import RunManager, StreamOptions, approve, ask, current_run
from agent_stream.server.redis import RedisStore
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

SCHEMA: dict[str, JSONValue] = {
    "type": "object",
    "properties": {"nights": {"type": "integer", "minimum": 1, "maximum": 14}},
    "required": ["nights"],
}


async def agent(kind: str, timeout_s: float) -> AsyncIterator[Token]:
    yield Token(text=f"stream {current_run().stream_id}; ")
    try:
        if kind == "schema":
            answer = await ask("How many nights?", schema=SCHEMA, timeout_s=timeout_s)
        elif kind == "approve":
            answer = await approve("book", {"hotel": "Bairro"}, timeout_s=timeout_s)
        else:
            answer = await ask(
                "Which city?", options=["Lisbon", "Porto", "Faro"], timeout_s=timeout_s
            )
    except InputTimeoutError:
        yield Token(text="timeout")
        return
    except InputCancelledError:
        yield Token(text="cancelled")
        return
    yield Token(text=f"got {json.dumps(answer)}")


def create_app() -> Starlette:
    grace_s = float(os.environ.get("AGENT_STREAM_GRACE_S", "30"))
    redis_url = os.environ.get("AGENT_STREAM_REDIS_URL")
    manager = RunManager(
        RedisStore.from_url(redis_url) if redis_url else None,
        options=StreamOptions(resume_grace_s=grace_s, heartbeat_s=1),
        owner=lambda request: request.headers.get("authorization", ""),
    )

    async def chat(request: Request) -> Response:
        q = request.query_params
        source = agent(q.get("kind", "choices"), float(q.get("timeout_s", "30")))
        limit = int(q["max_event_bytes"]) if "max_event_bytes" in q else None
        if q.get("disconnect") == "cancel":
            return AgentStreamResponse(
                source, manager=manager, disconnect="cancel", max_event_bytes=limit
            )
        return AgentStreamResponse(source, manager=manager, max_event_bytes=limit)

    async def healthz(request: Request) -> Response:
        return JSONResponse(manager.stats())

    app = Starlette(
        routes=[Route("/ask", chat, methods=["POST"]), Route("/healthz", healthz)],
    )
    mount_stream_routes(app, manager)
    return app
