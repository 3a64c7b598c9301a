"""The chaos soak's app (``bench/soak.py``): a deterministic agent on a ``RedisStore``.

``POST /soak`` with ``{"run": R, "tokens": N, "delay_ms": D, "ask_at": K | null}`` streams
``Token("R:0;")`` .. ``Token("R:<N-1>;")`` with ``D`` ms between them; with ``ask_at`` the agent
asks a question (options a / b / c) before token ``K`` and writes ``Token("R:answer=<answer>;")``
once answered. The server ends the stream with its own ``done``. :func:`script` gives the tokens
a run must store, so a checker can tell a lost, repeated or reordered event from the text alone.

Env: ``SOAK_REDIS_URL`` (store options in its query), ``SOAK_HEARTBEAT_S`` (default 1).
Serve with ``uvicorn bench.soak_app:create_app --factory``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_stream import Token
from agent_stream.server import RunManager, StreamOptions, ask
from agent_stream.server.redis import RedisStore
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

CHOICES = ["a", "b", "c"]
MAX_TOKENS = 10_000


def script(run: str, tokens: int, ask_at: int | None, answer: str | None) -> list[str]:
    """The token texts a complete run stores, in order (``answer`` once it is known)."""
    texts = [f"{run}:{i};" for i in range(tokens)]
    if ask_at is not None:
        texts.insert(ask_at, f"{run}:answer={answer};")
    return texts


async def soak_agent(
    run: str, tokens: int, delay_s: float, ask_at: int | None
) -> AsyncIterator[Token]:
    for i in range(tokens):
        if i == ask_at:
            answer = await ask(f"{run}: pick one", options=CHOICES, timeout_s=120)
            yield Token(text=f"{run}:answer={answer};")
        yield Token(text=f"{run}:{i};")
        if delay_s:
            await anyio.sleep(delay_s)


def create_app() -> Starlette:
    store = RedisStore.from_url(os.environ["SOAK_REDIS_URL"])
    manager = RunManager(
        store,
        options=StreamOptions(heartbeat_s=float(os.environ.get("SOAK_HEARTBEAT_S", "1"))),
        owner=lambda request: request.headers.get("authorization", ""),
    )

    async def soak(request: Request) -> Response:
        knobs = await request.json()
        tokens = int(knobs["tokens"])
        ask_at = knobs.get("ask_at")
        if not 0 <= tokens <= MAX_TOKENS or (ask_at is not None and not 0 <= ask_at < tokens):
            return JSONResponse({"error": "tokens or ask_at out of range"}, status_code=400)
        source = soak_agent(str(knobs["run"]), tokens, float(knobs["delay_ms"]) / 1000, ask_at)
        return AgentStreamResponse(source, manager=manager)

    async def healthz(request: Request) -> Response:
        return JSONResponse({**manager.stats(), "pid": os.getpid()})

    app = Starlette(
        routes=[Route("/soak", soak, methods=["POST"]), Route("/healthz", healthz)],
    )
    mount_stream_routes(app, manager)
    return app
