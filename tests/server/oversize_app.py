"""A test app whose agent yields one oversize event between small ones, run under uvicorn.

``GET /chat?big=N&policy=end|continue&style=typed|frames&kind=token|tool_result`` streams
``token "a"``, an event whose data is over N bytes, ``token "b"``, ``done``; ``kind=ask`` asks
a question that big instead and says what ``ask()`` raised (``token "caught <code>"``). The server's
``max_event_bytes`` is ``TEST_MAX_EVENT_BYTES`` (default 1 MiB); ``TEST_REDIS_URL`` makes the
store a RedisStore. ``GET /finally/{tag}`` long-polls until the agent's ``finally`` ran.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_stream import AgentStreamEmitter, Token, ToolResult, UsageError
from agent_stream.server import (
    MemoryStore,
    RunManager,
    SourceItem,
    StreamOptions,
    StreamStore,
    ask,
)
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes


def _store() -> StreamStore:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        return MemoryStore()
    from agent_stream.server.redis import RedisStore

    return RedisStore.from_url(url, prefix=f"oversize{os.getpid()}")


def create_app() -> Starlette:
    limit = int(os.environ.get("TEST_MAX_EVENT_BYTES", str(1 << 20)))
    manager = RunManager(_store(), options=StreamOptions(max_event_bytes=limit))
    finished: dict[str, anyio.Event] = {}

    def agent(request: Request) -> AsyncIterator[SourceItem]:
        q = request.query_params
        big = "x" * int(q.get("big", "0"))
        frames = q.get("style") == "frames"
        tag = q.get("tag", "")
        done = finished.setdefault(tag, anyio.Event())

        async def run() -> AsyncIterator[SourceItem]:
            emitter = AgentStreamEmitter()
            try:
                yield emitter.token("a") if frames else Token(text="a")
                if q.get("kind") == "tool_result":
                    yield ToolResult(tool_name="read", tool_use_id="t1", output_summary=big)
                elif q.get("kind") == "ask":
                    try:
                        await ask(big, timeout_s=5)
                    except UsageError as exc:
                        yield Token(text=f"caught {exc.code}")
                else:
                    yield emitter.token(big) if frames else Token(text=big)
                yield emitter.token("b") if frames else Token(text="b")
            finally:
                done.set()

        return run()

    async def chat(request: Request) -> Response:
        return AgentStreamResponse(
            agent(request),
            manager=manager,
            oversize=request.query_params.get("policy"),  # type: ignore[arg-type]
        )

    async def wait_finally(request: Request) -> Response:
        done = finished.setdefault(request.path_params["tag"], anyio.Event())
        with anyio.move_on_after(5):
            await done.wait()
        return JSONResponse({"finally": done.is_set()})

    app = Starlette(
        routes=[Route("/chat", chat), Route("/finally/{tag}", wait_finally)],
    )
    mount_stream_routes(app, manager)
    return app
