"""The respond route for Starlette/FastAPI (the logic is :mod:`agent_stream.server.respond`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import AgentStreamError
from .manager import RunManager
from .request_body import error_response, read_body
from .respond import MAX_ANSWER_BYTES, answer_question

__all__ = ["respond_route"]


def respond_route(
    path: str,
    manager_of: Callable[[Request], RunManager],
    owner_of: Callable[[Request], Awaitable[str]],
    *,
    body_timeout_s: float | None = 10.0,
) -> Route:
    """``POST path`` (with ``{stream_id}``): answer an open ``input_required`` of that stream;
    ``owner_of`` gives the request's owner, checked against the stream's. The body must arrive
    within ``body_timeout_s`` (408) and be at most ``MAX_ANSWER_BYTES`` (413)."""

    async def respond(request: Request) -> Response:
        manager = manager_of(request)
        try:
            body = await read_body(request, max_bytes=MAX_ANSWER_BYTES, timeout_s=body_timeout_s)
            who = await owner_of(request)
            result = await answer_question(
                manager,
                request.path_params["stream_id"],
                who,
                body,
                key=request.headers.get("idempotency-key") or None,
            )
        except AgentStreamError as exc:
            return error_response(exc)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    return Route(path, respond, methods=["POST"])
