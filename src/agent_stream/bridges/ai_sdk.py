"""Serve a run as the Vercel AI SDK UI message stream (``useChat`` from ``@ai-sdk/react``).

:class:`AISDKEncoder` (sans-I/O) maps our events to UI message stream v1 chunks.
:func:`ai_sdk_routes` (``server`` extra) gives ``useChat``'s default transport what it calls:

- ``POST <path>``: the ``useChat`` body (``id``, ``messages``, ``trigger``, ``messageId`` and any
  ``body`` fields you add) starts a run of your agent;
- ``GET <path>/<chatId>/stream``: what ``useChat({resume: true})`` calls on mount: the chat's run
  in progress replayed from its start, then live (``204`` when the chat has none). Served from
  the store, so it works on any process with a RedisStore and after the producer died (the
  run then ends ``interrupted``);
- ``POST <path>/<chatId>/stop``: cancels the chat's run (its ``finally`` runs); call it beside
  ``useChat``'s ``stop()``, which only disconnects.

Example::

    from agent_stream import Token
    from agent_stream.bridges.ai_sdk import ChatRequest, ai_sdk_routes, last_user_text

    async def agent(chat: ChatRequest):
        yield Token(text=f"You said: {last_user_text(chat)}")

    app = Starlette(routes=ai_sdk_routes("/api/chat", agent))
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.bridges.ai_sdk", exc, "server") from exc

from collections.abc import AsyncIterable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..emitter import new_stream_id
from ..errors import AgentStreamError, UsageError, truncate
from ..events import JSONValue
from ..server.manager import RunManager
from ..server.respond import answer_question
from ..server.run import SourceItem
from ..server.starlette import Owner, resolve_owner
from ..starlette import AgentStreamResponse
from ._ai_sdk_encoder import UI_MESSAGE_STREAM_HEADERS, AISDKEncoder
from ._routes import (
    error_response,
    find_event,
    kept_in_index,
    last_event_id,
    manager_for,
    read_body,
)
from .index import MemoryStreamIndex, StreamIndex, index_key

__all__ = [
    "UI_MESSAGE_STREAM_HEADERS",
    "AISDKAgent",
    "AISDKEncoder",
    "ChatRequest",
    "ai_sdk_routes",
    "last_user_text",
]


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The body ``useChat`` POSTs: the chat ``id``, its UI ``messages`` (as JSON), why it was
    sent (``trigger``: ``submit-message`` or ``regenerate-message``), ``message_id`` and the
    whole ``body`` as sent (with the extra fields of ``useChat``'s ``body`` option)."""

    id: str
    messages: list[dict[str, JSONValue]]
    trigger: str = "submit-message"
    message_id: str | None = msgspec.field(name="messageId", default=None)
    body: dict[str, JSONValue] = msgspec.field(default_factory=dict)


AISDKAgent = Callable[[ChatRequest], AsyncIterable[SourceItem]]
"""Your agent: given the parsed ``useChat`` body, an async iterable of our events."""

_BODY = msgspec.json.Decoder(dict[str, JSONValue])


def last_user_text(chat: ChatRequest) -> str:
    """The text parts of the chat's last user message, joined (``""`` if none)."""
    for message in reversed(chat.messages):
        if message.get("role") == "user":
            parts = message.get("parts")
            if isinstance(parts, list):
                return "".join(
                    str(part.get("text", ""))
                    for part in parts
                    if isinstance(part, dict) and part.get("type") == "text"
                )
            return ""
    return ""


def _approval_answers(chat: ChatRequest) -> list[tuple[str, bool]]:
    """(approval id, approved) of the tool parts answered in the chat's last message, which
    is the assistant message that ended at the approval request."""
    if not chat.messages or chat.messages[-1].get("role") != "assistant":
        return []
    parts = chat.messages[-1].get("parts")
    answers: list[tuple[str, bool]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        if isinstance(approval, dict):
            approval_id, approved = approval.get("id"), approval.get("approved")
            if isinstance(approval_id, str) and isinstance(approved, bool):
                answers.append((approval_id, approved))
    return answers


def _parse_chat(body: bytes) -> ChatRequest:
    try:
        raw = _BODY.decode(body)
        chat = msgspec.convert(raw, ChatRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UsageError(
            f"the body is not a useChat request ({exc}): {truncate(body)}",
            code="invalid-request",
        ) from None
    return msgspec.structs.replace(chat, body=raw)


def ai_sdk_routes(
    path: str,
    agent: AISDKAgent,
    *,
    manager: RunManager | None = None,
    index: StreamIndex | None = None,
    owner: Owner | None = None,
    index_ttl_s: float = 3600.0,
) -> list[BaseRoute]:
    """``POST path``, ``GET path/{chat_id}/stream`` and ``POST path/{chat_id}/stop``.

    Without ``manager`` the app's :class:`RunManager` is used; ``index`` records each chat's
    latest run (a :class:`~agent_stream.bridges.index.RedisStreamIndex` when several processes
    serve the app).
    """
    base = path.rstrip("/")
    chats: StreamIndex = index if index is not None else MemoryStreamIndex()

    def bridged(inner: AgentStreamResponse, active: RunManager) -> AgentStreamResponse:
        retry_ms = active.options.retry_ms

        def encoder(stream_id: str) -> AISDKEncoder:
            return AISDKEncoder(stream_id, retry_ms=retry_ms)

        inner.framing = encoder  # it ends the response at a tool approval (EndingFraming)
        return inner

    async def chat_stream_id(
        active: RunManager, request: Request, chat_id: str | None = None
    ) -> tuple[str, str | None]:
        who = await resolve_owner(owner, active, request)
        name = chat_id if chat_id is not None else request.path_params["chat_id"]
        return who, await chats.get(index_key("ai-sdk", who, name))

    async def answer_approvals(
        active: RunManager, request: Request, chat: ChatRequest, approvals: list[tuple[str, bool]]
    ) -> Response:
        # The message ended at a tool approval; this POST carries the answer: give it to our
        # question and continue the stream after it, as the same message.
        who, found = await chat_stream_id(active, request, chat.id)
        if found is None:
            raise UsageError(
                f"chat {truncate(chat.id, 60)} has no run waiting for an approval",
                code="invalid-request",
            )
        for request_id, approved in approvals:
            body = {"request_id": request_id, "answer": "approve" if approved else "deny"}
            await answer_question(active, found, who, msgspec.json.encode(body))
        last = approvals[-1][0]
        cursor = await find_event(active.store, found, "input_required", "request_id", last)
        inner = AgentStreamResponse(
            None,
            manager=active,
            owner=owner,
            stream_id=found,
            last_event_id=f"{found}:{cursor}",
            headers=UI_MESSAGE_STREAM_HEADERS,
        )
        return bridged(inner, active)

    async def start(request: Request) -> Response:
        active = manager_for(manager, request)
        try:
            chat = _parse_chat(await read_body(request))
            approvals = _approval_answers(chat)
            if approvals:
                return await answer_approvals(active, request, chat, approvals)
            source = agent(chat)  # an agent may check the request here and raise UsageError
            stream_id = new_stream_id()
            who = await resolve_owner(owner, active, request)
            key = index_key("ai-sdk", who, chat.id)
            await chats.set(key, stream_id, ttl_s=index_ttl_s)
            source = kept_in_index(source, chats, key, stream_id, index_ttl_s)
        except AgentStreamError as exc:
            return error_response(exc)
        inner = AgentStreamResponse(
            source,
            manager=active,
            owner=owner,
            stream_id=stream_id,
            headers=UI_MESSAGE_STREAM_HEADERS,
        )
        return bridged(inner, active)

    async def resume(request: Request) -> Response:
        active = manager_for(manager, request)
        try:
            cursor = last_event_id(request.headers)
            _, stream_id = await chat_stream_id(active, request)
            if stream_id is None:
                return Response(status_code=204)
            if cursor is None:
                info = await active.store.info(stream_id)
                if info is None or info.is_done:
                    return Response(status_code=204)
                cursor = f"{stream_id}:0"  # useChat rebuilds the message: replay from the start
        except AgentStreamError as exc:
            return error_response(exc)
        inner = AgentStreamResponse(
            None,
            manager=active,
            owner=owner,
            stream_id=stream_id,
            last_event_id=cursor,
            headers=UI_MESSAGE_STREAM_HEADERS,
        )
        return bridged(inner, active)

    async def stop(request: Request) -> Response:
        active = manager_for(manager, request)
        try:
            who, stream_id = await chat_stream_id(active, request)
            stopped = stream_id is not None and await active.stop(stream_id, who)
        except AgentStreamError as exc:
            return error_response(exc)
        return JSONResponse({"stopped": stopped}, headers={"cache-control": "no-store"})

    # :path - a chat id with "/" comes percent-encoded and is routed decoded
    return [
        Route(base, start, methods=["POST"]),
        Route(f"{base}/{{chat_id:path}}/stream", resume, methods=["GET"]),
        Route(f"{base}/{{chat_id:path}}/stop", stop, methods=["POST"]),
    ]
