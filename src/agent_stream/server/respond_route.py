"""The respond route for Starlette/FastAPI (the logic is :mod:`agent_stream.server.respond`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import AgentStreamError, AnswerError, StoreUnavailableError
from .manager import RunManager
from .respond import MAX_ANSWER_BYTES, answer_question

__all__ = ["respond_route"]


def _error(exc: AgentStreamError) -> Response:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    headers = {"Cache-Control": "no-store"}
    status = 400
    if isinstance(exc, AnswerError):
        status = exc.status_code
        if exc.reason is not None:
            error["reason"] = exc.reason
    elif isinstance(exc, StoreUnavailableError):
        status = 503
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    body = msgspec.json.encode({"error": error})
    return Response(body, status, headers=headers, media_type="application/json")


def respond_route(
    path: str,
    manager_of: Callable[[Request], RunManager],
    owner_of: Callable[[Request], Awaitable[str]],
) -> Route:
    """``POST path`` (with ``{stream_id}``): answer an open ``input_required`` of that stream;
    ``owner_of`` gives the request's owner, checked against the stream's."""

    async def respond(request: Request) -> Response:
        manager = manager_of(request)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                break
        try:
            who = await owner_of(request)
            result = await answer_question(
                manager,
                request.path_params["stream_id"],
                who,
                body,
                key=request.headers.get("idempotency-key") or None,
            )
        except AgentStreamError as exc:
            return _error(exc)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    return Route(path, respond, methods=["POST"])
