"""Plain-ASGI plumbing shared by the Starlette and FastAPI adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import anyio
import msgspec
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Send

from ..errors import AgentStreamError, AnswerError, ResumeError, StoreUnavailableError, UsageError
from .connection import Connection, EndReason, Write
from .manager import RunManager, parse_cursor

__all__ = [
    "body_writer",
    "end_body",
    "error_body",
    "error_status",
    "last_event_id",
    "listen",
    "require_asyncio",
    "send_json_error",
    "stop_listening",
    "stream_headers",
]

logger = logging.getLogger("agent_stream")


def _gzip_skips_event_streams() -> bool:
    # Starlette's GZipMiddleware leaves text/event-stream alone since it grew an exclusion
    # list; older versions compress (and may hold back) every streamed chunk unless the
    # response already names a Content-Encoding.
    try:
        from starlette.middleware import gzip
    except ImportError:  # pragma: no cover - starlette is a dependency of this module
        return True
    excluded = getattr(gzip, "DEFAULT_EXCLUDED_CONTENT_TYPES", ())
    return "text/event-stream" in excluded


_IDENTITY_ENCODING = not _gzip_skips_event_streams()


def require_asyncio() -> None:
    """Raise :class:`UsageError` ``invalid-backend`` unless this runs on asyncio."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            "agent-stream's server runs on asyncio only, and this request runs on another "
            "event loop (trio?); serve the app with an asyncio server: uvicorn, or hypercorn "
            "--worker-class asyncio (or uvloop)",
            code="invalid-backend",
        ) from None


def stream_headers(
    manager: RunManager,
    stream_id: str,
    extra: Mapping[str, str] | None = None,
    *,
    media_type: str = "text/event-stream",
    resume_url: bool = True,
) -> list[tuple[bytes, bytes]]:
    """The response headers of a stream (never ``Connection``: illegal on HTTP/2); the resume
    URL only when ``resume_url`` (a route serves it)."""
    headers = [
        (b"content-type", f"{media_type}; charset=utf-8".encode("latin-1")),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        (b"x-agent-stream-id", stream_id.encode()),
    ]
    if resume_url:
        headers.append((b"x-agent-stream-resume-url", manager.resume_path(stream_id).encode()))
    if _IDENTITY_ENCODING:
        headers.append((b"content-encoding", b"identity"))
    for name, value in (extra or {}).items():
        lower = name.lower()
        if lower not in ("content-type", "content-length", "connection"):
            headers.append((lower.encode("latin-1"), value.encode("latin-1")))
    return headers


# Request-body errors (server/request_body.py) that have a status of their own.
_STATUS_BY_CODE = {"body-too-large": 413, "body-timeout": 408}


def error_status(exc: AgentStreamError) -> int:
    """The HTTP status ``exc`` is answered with: never 5xx for bad input."""
    if isinstance(exc, (ResumeError, AnswerError)):
        return exc.status_code
    if isinstance(exc, StoreUnavailableError):
        return 503
    return _STATUS_BY_CODE.get(exc.code, 400)


def last_event_id(headers: Mapping[str, str]) -> str | None:
    """The request's ``Last-Event-ID``; None without the header.

    Present at all, even blank, it asks for a resume and never starts a run (PROTOCOL 5), so
    anything but ``<stream_id>:<seq>`` raises ResumeError ``malformed-id`` (400).
    """
    value = headers.get("last-event-id")
    if value is not None:
        parse_cursor(value)
    return value


def error_body(exc: AgentStreamError) -> bytes:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, ResumeError) and exc.earliest_id is not None:
        error["earliest_id"] = exc.earliest_id
    elif isinstance(exc, AnswerError) and exc.reason is not None:
        error["reason"] = exc.reason
    return msgspec.json.encode({"error": error})


async def send_json_error(send: Send, exc: AgentStreamError) -> None:
    """Answer ``{"error": {"code", "message", ...}}`` with the error's status."""
    body = error_body(exc)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if isinstance(exc, StoreUnavailableError):
        headers.append((b"retry-after", str(max(1, round(exc.retry_after_s))).encode()))
    await send({"type": "http.response.start", "status": error_status(exc), "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_no_content(send: Send) -> None:
    """Answer ``204 No Content``: a resume from an ended stream's last event (PROTOCOL 5)."""
    headers = [(b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def listen(receive: Receive, connection: Connection) -> None:
    """Tell ``connection`` when ``receive`` says ``http.disconnect``.

    One bare task runs the server's ``receive()`` (no wrapper coroutine, no task group); its
    result is looked at in a done callback.
    """
    message = receive()
    if asyncio.iscoroutine(message):
        # a constant name: asyncio would format one per task
        task = asyncio.get_running_loop().create_task(message, name="agent-stream receive")
    else:  # pragma: no cover - an ASGI receive that is not a coroutine function
        task = asyncio.ensure_future(message)
    connection.listener = task
    task.add_done_callback(_Received(receive, connection))


class _Received:
    """The listener's done callback (a slotted object: smaller than a partial)."""

    __slots__ = ("connection", "receive")

    def __init__(self, receive: Receive, connection: Connection) -> None:
        self.receive = receive
        self.connection = connection

    def __call__(self, task: asyncio.Future[Any]) -> None:
        connection = self.connection
        if task.cancelled() or connection.closed:
            return
        if task.exception() is None and task.result().get("type") != "http.disconnect":
            listen(self.receive, connection)  # a (late) body chunk: keep listening
            return
        connection.disconnected()


def body_writer(send: Send) -> Write:
    """``write(chunk)`` for a connection: one ``http.response.body`` message per chunk."""
    return _BodyWriter(send)


class _BodyWriter:
    # one slotted object per open stream: a partial is three (itself, its args, its kwargs)
    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, chunk: bytes) -> None:
        await self.send({"type": "http.response.body", "body": chunk, "more_body": True})


def stop_listening(connection: Connection) -> None:
    listener = connection.listener
    if listener is not None:
        connection.listener = None
        listener.cancel()


async def end_body(send: Send, reason: EndReason, *, stalled_wait_s: float = 0.0) -> EndReason:
    """Close the body after ``done`` / ``reconnect`` / a lost stream; the final reason.

    A reaped reader's (``stalled``) body is closed too, waiting up to ``stalled_wait_s``: an
    app that returns with its response unfinished has the server log an error, and ASGI offers
    no way to drop the connection. The end waits behind the bytes the client does not take,
    until it takes them, leaves, or the server drops it (RequestDeadlineProtocol does, at its
    send deadline); past ``stalled_wait_s`` the response is left unfinished.
    """
    if reason in ("done", "shutdown", "lost") or (reason == "stalled" and stalled_wait_s > 0):
        end = {"type": "http.response.body", "body": b"", "more_body": False}
        try:
            if reason == "stalled":
                with anyio.move_on_after(stalled_wait_s):
                    await send(end)
            else:
                await send(end)
        except (OSError, ClientDisconnect):
            reason = "disconnected"
    return reason
