"""Read a request body within bounds: size, time and JSON nesting, for our routes and yours.

``await request.body()`` reads whatever the client sends before a route can look at its size,
waits as long as the client likes for a body shorter than its ``Content-Length``, and
``json.loads`` of a small body nested a few thousand deep raises ``RecursionError`` (a 500).
:func:`read_json` refuses each of these with a typed error a route turns into a 4xx::

    from agent_stream.starlette import error_response, read_json

    async def chat(request):
        try:
            body = await read_json(request, max_bytes=64 * 1024)
        except AgentStreamError as exc:
            return error_response(exc)
        ...

Errors are :class:`~agent_stream.errors.UsageError` with these codes (HTTP status as
:func:`error_response` answers them): ``body-too-large`` (413; by ``Content-Length`` before
reading, or once the bytes read pass ``max_bytes``), ``body-timeout`` (408),
``invalid-request`` (400: not JSON, nested deeper than ``max_depth``), ``client-disconnected``
(the client left mid-body; there is no one to answer, the route just returns).
"""

from __future__ import annotations

import anyio
import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..errors import AgentStreamError, StoreUnavailableError, UsageError
from ..events import JSONValue
from ._asgi import error_body, error_status

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_JSON_DEPTH",
    "check_json_depth",
    "error_response",
    "read_body",
    "read_json",
]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
_MAX_DEPTH_LIMIT = 500  # below the interpreter's recursion limit, so decoding cannot hit it


def error_headers(exc: AgentStreamError) -> dict[str, str]:
    """``Cache-Control: no-store``, and ``Retry-After`` (seconds) for a 503."""
    headers = {"cache-control": "no-store"}
    if isinstance(exc, StoreUnavailableError):
        headers["retry-after"] = str(max(1, round(exc.retry_after_s)))
    return headers


def error_response(exc: AgentStreamError) -> Response:
    """The JSON error response for ``exc``: its status, code and message, ``Retry-After``."""
    return Response(
        error_body(exc),
        error_status(exc),
        headers=error_headers(exc),
        media_type="application/json",
    )


async def read_body(
    request: Request,
    *,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float | None = 10.0,
) -> bytes:
    """The request body, refused as soon as it is known to exceed ``max_bytes``.

    ``timeout_s`` bounds the whole read (``None``: no bound). See the module docstring for the
    errors raised.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(f"Content-Length {int(declared)}", max_bytes)
    body = bytearray()
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(f"more than {max_bytes} bytes", max_bytes)
    except TimeoutError:
        raise UsageError(
            f"request body not received within {timeout_s:g} s ({len(body)} bytes came); "
            "send the whole body at once",
            code="body-timeout",
        ) from None
    except ClientDisconnect:
        raise UsageError(
            f"the client went away after {len(body)} bytes of the request body",
            code="client-disconnected",
        ) from None
    return bytes(body)


async def read_json(
    request: Request,
    *,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    timeout_s: float | None = 10.0,
) -> JSONValue:
    """The request body decoded as JSON (``None`` for an empty body), bounded as
    :func:`read_body`, with arrays and objects nested at most ``max_depth`` deep."""
    if not 1 <= max_depth <= _MAX_DEPTH_LIMIT:
        raise UsageError(
            f"max_depth must be between 1 and {_MAX_DEPTH_LIMIT}, got {max_depth!r}",
            code="invalid-option",
        )
    body = await read_body(request, max_bytes=max_bytes, timeout_s=timeout_s)
    if not body.strip():
        return None
    check_json_depth(body, max_depth)
    try:
        value: JSONValue = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise UsageError(f"request body is not JSON ({exc})", code="invalid-request") from None
    return value


def check_json_depth(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> None:
    """Raise UsageError ``invalid-request`` if ``body`` nests arrays or objects more than
    ``max_depth`` deep; call it before decoding JSON a client sent (a decoder recursing
    1,000 deep raises ``RecursionError``: a 500)."""
    # Count brackets first: a body with no more than max_depth of them cannot nest deeper.
    if body.count(b"[") + body.count(b"{") > max_depth and _depth(body) > max_depth:
        raise UsageError(
            f"request body nests arrays or objects more than {max_depth} deep",
            code="invalid-request",
        )


def _depth(body: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in ``body``, skipping JSON strings; linear."""
    deepest = depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _too_large(what: str, max_bytes: int) -> UsageError:
    return UsageError(
        f"request body is {what}; this route accepts up to {max_bytes} bytes",
        code="body-too-large",
    )
