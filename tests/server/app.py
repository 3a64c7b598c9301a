"""A test app with configurable agents, run under uvicorn by the server tests.

``GET|POST /chat?tag=T&n=..`` streams a scripted agent; query knobs:
``n`` token count, ``delay_ms`` between tokens, ``first_delay_s`` before the first event,
``fail_after`` raise after that many tokens, ``end`` = ``done`` | ``none`` | ``double``,
``style`` = ``typed`` | ``frames`` (the original emitter style), ``disconnect``, ``grace_s``,
``heartbeat_s``, ``send_timeout_s``, ``framing=ndjson`` (another wire format), ``gate=1``
(wait before the end until ``POST /bump/T?key=gate``), ``linger_s`` (keep running that long
after yielding ``done``, counting ``ended`` once it yielded it). Each agent counts ``started`` /
``finally`` under its tag;
``GET /wait/T?key=finally&value=1&timeout_s=5`` long-polls until a counter reaches a value.
Env: ``TEST_GZIP=1`` wraps the app in GZipMiddleware, ``TEST_BASEHTTP=1`` adds a
BaseHTTPMiddleware, ``TEST_REDIS_URL`` keeps the streams in a ``RedisStore`` (several workers).
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_stream import AgentStreamEmitter, Done, Start, Token
from agent_stream.server import MemoryStore, RunManager, SourceItem, StreamOptions
from agent_stream.server.redis import RedisStore
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes


class Counters:
    def __init__(self) -> None:
        self.values: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._changed = anyio.Event()

    def bump(self, tag: str, key: str) -> None:
        self.values[tag][key] += 1
        self._changed.set()
        self._changed = anyio.Event()

    async def wait(self, tag: str, key: str, value: int, timeout_s: float) -> bool:
        with anyio.move_on_after(timeout_s):
            while self.values[tag][key] < value:
                await self._changed.wait()
            return True
        return False


def agent(request: Request, counters: Counters) -> AsyncIterator[SourceItem]:
    q = request.query_params
    tag = q.get("tag", "default")
    n = int(q.get("n", "3"))
    delay_s = float(q.get("delay_ms", "0")) / 1000
    first_delay_s = float(q.get("first_delay_s", "0"))
    fail_after = int(q["fail_after"]) if "fail_after" in q else None
    end = q.get("end", "done")
    frames = q.get("style") == "frames"
    gate = q.get("gate") == "1"
    linger_s = float(q.get("linger_s", "0"))

    async def run() -> AsyncIterator[SourceItem]:
        counters.bump(tag, "started")
        emitter = AgentStreamEmitter()
        try:
            if first_delay_s:
                await anyio.sleep(first_delay_s)
            for i in range(n):
                if fail_after is not None and i == fail_after:
                    raise RuntimeError(f"agent failed after {i} tokens")
                text = q.get("text", f"t{i} ")
                yield emitter.token(text) if frames else Token(text=text)
                if delay_s:
                    await anyio.sleep(delay_s)
            if gate:
                await counters.wait(tag, "gate", 1, timeout_s=30)
            if end in ("done", "double"):
                yield emitter.done(num_turns=1) if frames else Done(num_turns=1)
                counters.bump(tag, "ended")
                if linger_s:
                    await anyio.sleep(linger_s)  # cleanup after the end, cancelled by a stop
            if end == "double":
                # a second emitter: ours refuses to emit after 'done'
                yield AgentStreamEmitter().done() if frames else Done()
                yield Token(text="after done")
                counters.bump(tag, "drained")
        finally:
            counters.bump(tag, "finally")

    return run()


class NDJSONFraming:
    """Another wire format, for the tests: one JSON object per line, a blank line as ping."""

    media_type = "application/x-ndjson"

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id

    def read_after(self, cursor: int) -> int:
        return cursor

    def open(self, start: Start, *, cursor: int, retry_ms: int) -> bytes:
        return b'{"stream":"%b","after":%d}\n' % (self.stream_id.encode(), cursor)

    def events(self, first_seq: int, events: Sequence[tuple[str, bytes]], /) -> bytes:
        return b"".join(
            b'{"seq":%d,"type":"%b","data":%b}\n' % (seq, event_type.encode(), data)
            for seq, (event_type, data) in enumerate(events, first_seq)
        )

    def ping(self) -> bytes:
        return b"\n"

    def reconnect(self) -> bytes:
        return b'{"reconnect":true}\n'


def create_app() -> Starlette:
    counters = Counters()
    max_events = int(os.environ.get("TEST_MAX_EVENTS", "100000"))
    redis_url = os.environ.get("TEST_REDIS_URL")
    manager = RunManager(
        RedisStore.from_url(redis_url, max_events=max_events)
        if redis_url
        else MemoryStore(max_events=max_events),
        options=StreamOptions(heartbeat_s=float(os.environ.get("TEST_HEARTBEAT_S", "15"))),
        owner=lambda request: request.headers.get("authorization", ""),
    )

    async def chat(request: Request) -> Response:
        q = request.query_params
        if request.method == "POST":
            await request.body()
        return AgentStreamResponse(
            agent(request, counters),
            manager=manager,
            disconnect=q.get("disconnect"),  # type: ignore[arg-type]
            resume_grace_s=float(q["grace_s"]) if "grace_s" in q else None,
            heartbeat_s=float(q["heartbeat_s"]) if "heartbeat_s" in q else None,
            send_timeout_s=float(q["send_timeout_s"]) if "send_timeout_s" in q else None,
            framing=NDJSONFraming if q.get("framing") == "ndjson" else None,
        )

    async def wait(request: Request) -> Response:
        q = request.query_params
        tag = request.path_params["tag"]
        reached = await counters.wait(
            tag, q["key"], int(q.get("value", "1")), float(q.get("timeout_s", "5"))
        )
        return JSONResponse({"reached": reached, **counters.values[tag]})

    async def bump(request: Request) -> Response:
        counters.bump(request.path_params["tag"], request.query_params["key"])
        return JSONResponse(counters.values[request.path_params["tag"]])

    async def healthz(request: Request) -> Response:
        return JSONResponse({**manager.stats(), "tasks": len(asyncio.all_tasks())})

    async def settle(request: Request) -> Response:
        # Long-poll until at most ``max`` asyncio tasks exist (the probe's own included).
        limit = int(request.query_params["max"])
        with anyio.move_on_after(float(request.query_params.get("timeout_s", "5"))):
            while len(asyncio.all_tasks()) > limit:  # noqa: ASYNC110 - no event for task exits
                await anyio.sleep(0.02)
        return JSONResponse({**manager.stats(), "tasks": len(asyncio.all_tasks())})

    middleware = []
    if os.environ.get("TEST_GZIP"):
        middleware.append(Middleware(GZipMiddleware, minimum_size=10))
    if os.environ.get("TEST_BASEHTTP"):

        async def passthrough(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            return await call_next(request)

        middleware.append(Middleware(BaseHTTPMiddleware, dispatch=passthrough))
    app = Starlette(
        routes=[
            Route("/chat", chat, methods=["GET", "POST"]),
            Route("/wait/{tag}", wait),
            Route("/bump/{tag}", bump, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/settle", settle),
        ],
        middleware=middleware,
    )
    mount_stream_routes(app, manager)
    return app
