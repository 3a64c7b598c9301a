"""A loopback stand-in for the Anthropic and OpenAI HTTP APIs, serving recorded wire bytes.

The demo's real-model agent is pointed here with ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``:
the official SDK clients talk HTTP to it exactly as to the providers. A Messages or Chat
Completions request whose last message carries tool results gets the answer turn, any other
the tool-calling turn; ``/v1/responses`` streams a reasoning summary and a short text.
``GET /requests`` returns the JSON bodies received so far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.uvicorn_helpers import UvicornProcess

WIRE = Path(__file__).resolve().parent.parent / "adapters" / "wire"


def _answers_tools(body: dict[str, Any]) -> bool:
    last = body["messages"][-1]
    if last.get("role") == "tool":
        return True
    content = last.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def create_app() -> Starlette:
    received: list[dict[str, Any]] = []

    def serve(prefix: str, body: dict[str, Any]) -> Response:
        received.append(body)
        turn = 2 if _answers_tools(body) else 1
        wire = (WIRE / f"{prefix}_demo_turn{turn}.sse").read_bytes()
        return Response(wire, media_type="text/event-stream")

    async def messages(request: Request) -> Response:
        return serve("anthropic", json.loads(await request.body()))

    async def chat_completions(request: Request) -> Response:
        return serve("chat", json.loads(await request.body()))

    async def responses(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        wire = (WIRE / "responses_text.sse").read_bytes()
        return Response(wire, media_type="text/event-stream")

    async def requests(request: Request) -> Response:
        return JSONResponse(received)

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/requests", requests, methods=["GET"]),
        ]
    )


# Importing the LLM SDKs in a fresh interpreter is slow on a loaded machine.
SDK_START_S = 90.0


def serve_fake_provider() -> UvicornProcess:
    """This app on real uvicorn (127.0.0.1, a free port): enter it to start, leave to stop."""
    return UvicornProcess(
        "tests.demo.fake_provider:create_app",
        factory=True,
        args=["--no-access-log"],
        ready_timeout_s=SDK_START_S,
    )


def sse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    """The (event, data) of each block of an agent-stream SSE body that names its event."""
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events
