"""Serve a run as AG-UI events (``@ag-ui/client``'s ``HttpAgent``, CopilotKit, ...).

Needs the ``ag-ui`` extra (``pip install 'agent-event-stream[ag-ui]'``). :class:`AGUIEncoder`
(sans-I/O) maps our events to AG-UI events; :func:`ag_ui_routes` answers an ``HttpAgent`` POST with
your agent's run, with our guarantees: every frame carries our ``id:`` line, so the same POST sent
again with ``Last-Event-ID`` resumes the run instead of starting another, and ``GET
<path>/<threadId>/stream`` re-attaches to the run a thread has in progress (``204`` when none),
which is what ``@agent-stream/ag-ui``'s ``ResumableHttpAgent.connect()`` calls. ``POST
<path>/<threadId>/stop`` cancels the thread's run (its ``finally`` runs); ``HttpAgent.abortRun()``
only disconnects, ``ResumableHttpAgent.abortRun()`` calls it too.

Example::

    from ag_ui.core import RunAgentInput
    from agent_stream import Token
    from agent_stream.bridges.ag_ui import ag_ui_routes

    async def agent(run_input: RunAgentInput):
        yield Token(text="Hello from agent-stream")

    app = Starlette(routes=ag_ui_routes("/api/ag-ui", agent))
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import ag_ui as _ag_ui  # noqa: F401
    import anyio as _anyio  # noqa: F401
    import pydantic as _pydantic  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.bridges.ag_ui", exc, "ag-ui") from exc

from collections.abc import AsyncIterable, Callable

import msgspec
import pydantic
from ag_ui.core import RunAgentInput
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..emitter import new_stream_id
from ..errors import AgentStreamError, UsageError, truncate
from ..server.manager import RunManager
from ..server.respond import answer_question
from ..server.run import SourceItem
from ..server.starlette import Owner, resolve_owner
from ..starlette import AgentStreamResponse
from ._ag_ui_encoder import AGUIEncoder
from ._routes import (
    error_response,
    find_event,
    kept_in_index,
    last_event_id,
    manager_for,
    read_body,
)
from .index import MemoryStreamIndex, StreamIndex, index_key

__all__ = ["AGUIAgent", "AGUIEncoder", "ag_ui_routes", "last_user_text"]

AGUIAgent = Callable[[RunAgentInput], AsyncIterable[SourceItem]]
"""Your agent: given the parsed ``RunAgentInput``, an async iterable of our events."""


def last_user_text(run_input: RunAgentInput) -> str:
    """The text of the last user message of ``run_input`` (``""`` if none)."""
    for message in reversed(run_input.messages):
        if getattr(message, "role", None) == "user":
            content = getattr(message, "content", "")
            if isinstance(content, str):
                return content
            return "".join(str(getattr(part, "text", "")) for part in content)
    return ""


def _parse_input(body: bytes) -> RunAgentInput:
    try:
        return RunAgentInput.model_validate_json(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(part) for part in first.get("loc", ())) or "$"
        raise UsageError(
            f"the body is not an AG-UI RunAgentInput: {first.get('msg')} at {where} "
            f"({truncate(body)})",
            code="invalid-request",
        ) from None


def ag_ui_routes(
    path: str,
    agent: AGUIAgent,
    *,
    manager: RunManager | None = None,
    index: StreamIndex | None = None,
    owner: Owner | None = None,
    index_ttl_s: float = 3600.0,
) -> list[BaseRoute]:
    """``POST path`` (an ``HttpAgent`` run, or its resume with ``Last-Event-ID``), ``GET
    path/{thread_id}/stream`` (re-attach to the thread's run in progress) and ``POST
    path/{thread_id}/stop`` (cancel it: ``{"stopped": true}``, or ``false`` when the thread
    has no run in progress).

    Without ``manager`` the app's :class:`RunManager` is used; ``index`` records each thread's
    latest run (a :class:`~agent_stream.bridges.index.RedisStreamIndex` when several processes
    serve the app).
    """
    base = path.rstrip("/")
    threads: StreamIndex = index if index is not None else MemoryStreamIndex()

    async def run(request: Request) -> Response:
        active = manager_for(manager, request)
        try:
            run_input = _parse_input(await read_body(request))
            resume_from = last_event_id(request.headers)
            if resume_from is None and run_input.resume:
                inner = await answered(active, request, run_input)
            elif resume_from is None:
                stream_id = new_stream_id()
                who = await resolve_owner(owner, active, request)
                key = index_key("ag-ui", who, run_input.thread_id)
                entry = f"{stream_id} {run_input.run_id}"
                await threads.set(key, entry, ttl_s=index_ttl_s)
                source = kept_in_index(agent(run_input), threads, key, entry, index_ttl_s)
                inner = AgentStreamResponse(
                    source, manager=active, owner=owner, stream_id=stream_id
                )
            else:
                inner = AgentStreamResponse(
                    None, manager=active, owner=owner, last_event_id=resume_from
                )
        except AgentStreamError as exc:
            return error_response(exc)
        thread_id, run_id = run_input.thread_id, run_input.run_id
        retry_ms = active.options.retry_ms

        def encoder(stream_id: str) -> AGUIEncoder:
            return AGUIEncoder(stream_id, thread_id=thread_id, run_id=run_id, retry_ms=retry_ms)

        inner.framing = encoder  # it ends the response at an interrupt (EndingFraming)
        return inner

    async def answered(
        active: RunManager, request: Request, run_input: RunAgentInput
    ) -> AgentStreamResponse:
        # A run whose AG-UI run ended at an interrupt: answer the question(s) of our stream,
        # then continue it after the last one, as this request's AG-UI run.
        who = await resolve_owner(owner, active, request)
        key = index_key("ag-ui", who, run_input.thread_id)
        found = await threads.get(key)
        if found is None:
            raise UsageError(
                f"thread {truncate(run_input.thread_id, 60)} has no interrupted run to resume",
                code="invalid-request",
            )
        stream_id = found.partition(" ")[0]
        resume = run_input.resume or []
        for entry in resume:
            answer: dict[str, object] = {"request_id": entry.interrupt_id}
            if entry.status == "cancelled":
                answer["cancel"] = True
            else:
                answer["answer"] = entry.payload
            await answer_question(active, stream_id, who, msgspec.json.encode(answer))
        last = resume[-1].interrupt_id
        cursor = await find_event(active.store, stream_id, "input_required", "request_id", last)
        await threads.set(key, f"{stream_id} {run_input.run_id}", ttl_s=index_ttl_s)
        return AgentStreamResponse(
            None,
            manager=active,
            owner=owner,
            stream_id=stream_id,
            last_event_id=f"{stream_id}:{cursor}",
        )

    async def attach(request: Request) -> Response:
        active = manager_for(manager, request)
        thread_id = request.path_params["thread_id"]
        try:
            resume_from = last_event_id(request.headers)
            who = await resolve_owner(owner, active, request)
            found = await threads.get(index_key("ag-ui", who, thread_id))
            if found is None:
                return Response(status_code=204)
            stream_id, _, run_id = found.partition(" ")
            if resume_from is None:
                info = await active.store.info(stream_id)
                if info is None or info.is_done:
                    return Response(status_code=204)
                resume_from = f"{stream_id}:0"
        except AgentStreamError as exc:
            return error_response(exc)
        inner = AgentStreamResponse(
            None, manager=active, owner=owner, stream_id=stream_id, last_event_id=resume_from
        )
        retry_ms = active.options.retry_ms

        def encoder(sid: str) -> AGUIEncoder:
            return AGUIEncoder(sid, thread_id=thread_id, run_id=run_id, retry_ms=retry_ms)

        inner.framing = encoder
        return inner

    async def stop(request: Request) -> Response:
        active = manager_for(manager, request)
        try:
            who = await resolve_owner(owner, active, request)
            found = await threads.get(index_key("ag-ui", who, request.path_params["thread_id"]))
            stream_id = None if found is None else found.partition(" ")[0]
            stopped = stream_id is not None and await active.stop(stream_id, who)
        except AgentStreamError as exc:
            return error_response(exc)
        return JSONResponse({"stopped": stopped}, headers={"cache-control": "no-store"})

    # :path - an id with "/" comes percent-encoded and is routed decoded
    return [
        Route(base, run, methods=["POST"]),
        Route(f"{base}/{{thread_id:path}}/stream", attach, methods=["GET"]),
        Route(f"{base}/{{thread_id:path}}/stop", stop, methods=["POST"]),
    ]
