"""Starlette + Redis, two worker processes: any worker resumes any stream.

    pip install 'agent-event-stream[redis]'
    REDIS_URL=redis://127.0.0.1:6379/0 python examples/starlette_redis/app.py

Start a stream, drop the connection, resume it with the same request and ``Last-Event-ID``:
the resume may land on the other worker and still gets exactly the missing events.
"""

import contextlib
import os
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_stream import Progress, Token
from agent_stream.server import RunManager
from agent_stream.server.redis import RedisStore
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

store = RedisStore.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
manager = RunManager(store, owner=lambda request: request.headers.get("authorization", ""))


async def agent(message: str, words: int):
    for n in range(words):
        yield Progress(step="writing", percentage=100 * n // words, message=message)
        yield Token(text=f"word{n} ")
        await anyio.sleep(0.05)


async def chat(request: Request) -> AgentStreamResponse:
    body = await request.json()
    return AgentStreamResponse(agent(body.get("message", ""), int(body.get("words", 20))))


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"pid": os.getpid(), **manager.stats()})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    yield
    manager.shutdown()
    await store.aclose()


app = Starlette(
    routes=[Route("/api/chat", chat, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
mount_stream_routes(app, manager)


if __name__ == "__main__":
    uvicorn.run(
        "app:app",
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "8000")),
        workers=2,
    )
