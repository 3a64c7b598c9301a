"""What the bridge route factories share: request bodies, ``Last-Event-ID``, error answers,
finding a question in a stream."""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.bridges", exc, "server") from exc

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..errors import AgentStreamError, AnswerError, UsageError
from ..server._asgi import error_body, error_status, last_event_id
from ..server.manager import RunManager
from ..server.request_body import check_json_depth
from ..server.store import StreamStore

__all__ = [
    "MAX_BODY_BYTES",
    "error_response",
    "find_event",
    "last_event_id",
    "manager_for",
    "read_body",
]

MAX_BODY_BYTES = 1 << 20
_READ_LIMIT = 4096


def manager_for(manager: RunManager | None, request: Request) -> RunManager:
    return manager if manager is not None else RunManager.for_app(request.app)


def error_response(exc: AgentStreamError) -> Response:
    """``{"error": {"code", "message"}}`` with the status the error calls for (never 5xx for
    bad input)."""
    status = exc.status_code if isinstance(exc, AnswerError) else error_status(exc)
    return Response(error_body(exc), status, media_type="application/json")


async def read_body(request: Request) -> bytes:
    """The request body, at most :data:`MAX_BODY_BYTES`; UsageError beyond."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise UsageError(f"request body is over {MAX_BODY_BYTES} bytes", code="invalid-request")
        chunks.append(chunk)
    body = b"".join(chunks)
    check_json_depth(body)  # JSON nested 1,000 deep: 400, not a RecursionError 500
    return body


async def find_event(
    store: StreamStore, stream_id: str, event_type: str, key: str, value: str
) -> int:
    """The seq of the first stored ``event_type`` whose data has ``key == value``; 0 if none."""
    seq = 0
    while True:
        result = await store.read(stream_id, seq, limit=_READ_LIMIT)
        for stored_type, payload in result.events:
            seq += 1
            if stored_type == event_type and msgspec.json.decode(payload).get(key) == value:
                return seq
        if not result.events or (result.is_done and seq >= result.last_seq):
            return 0
