"""An app that streams an LLM SDK's recorded response through an adapter (for e2e tests).

``POST /api/chat`` with ``{"provider": "anthropic" | "openai", "tokens": N}`` runs the official
SDK client against a mock transport serving a recorded-format stream of N text deltas; the
adapter's events are the run. ``GET /healthz`` reports the run manager's counts.
"""

from __future__ import annotations

import json

import anthropic
import httpx2
import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_stream.adapters import anthropic as anthropic_adapter
from agent_stream.adapters import openai as openai_adapter
from agent_stream.server import MemoryStore, RunManager
from agent_stream.starlette import AgentStreamResponse, mount_stream_routes

WORD = "wörd✨ "


def _frame(kind: str | None, data: dict[str, object]) -> bytes:
    head = f"event: {kind}\n" if kind else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def anthropic_body(tokens: int) -> bytes:
    """A Messages stream of ``tokens`` text deltas, shaped like the API reference's."""
    frames = [
        _frame(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_e2e",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        ),
        _frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for i in range(tokens):
        delta = {"type": "text_delta", "text": f"{WORD}{i} "}
        frames.append(
            _frame(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    frames += [
        _frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": tokens},
            },
        ),
        _frame("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(frames)


def openai_body(tokens: int) -> bytes:
    """A Chat Completions stream of ``tokens`` content deltas and a usage chunk."""

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _frame(
            None,
            {
                "id": "chatcmpl-e2e",
                "object": "chat.completion.chunk",
                "created": 1741570283,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [choice],
                "usage": None,
            },
        )

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": f"{WORD}{i} "}) for i in range(tokens)]
    frames.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
    frames.append(
        _frame(
            None,
            {
                "id": "chatcmpl-e2e",
                "object": "chat.completion.chunk",
                "created": 1741570283,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [],
                "usage": usage,
            },
        )
    )
    return b"".join(frames) + b"data: [DONE]\n\n"


def _mock_client(body: bytes) -> httpx2.AsyncClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


def create_app() -> Starlette:
    manager = RunManager(MemoryStore())

    async def chat(request: Request) -> Response:
        body = await request.json()
        tokens = int(body.get("tokens", 100))
        if body.get("provider") == "openai":
            client = openai.AsyncOpenAI(
                api_key="sk-test", http_client=_mock_client(openai_body(tokens)), max_retries=0
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            return AgentStreamResponse(openai_adapter.events(stream), manager=manager)
        claude = anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            http_client=_mock_client(anthropic_body(tokens)),
            max_retries=0,
        )
        messages_stream = await claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        return AgentStreamResponse(anthropic_adapter.events(messages_stream), manager=manager)

    async def healthz(request: Request) -> Response:
        return JSONResponse(manager.stats())

    app = Starlette(
        routes=[
            Route("/api/chat", chat, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    mount_stream_routes(app, manager)
    return app
