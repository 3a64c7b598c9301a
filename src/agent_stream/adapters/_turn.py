"""What one model call produced, shared by the SDK adapters and :func:`tool_loop`."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from ..events import Error, JSONValue
from ._sdk import require
from ._usage import Usage

__all__ = [
    "UNPARSED",
    "ToolCall",
    "TurnResult",
    "close_stream",
    "incomplete_error",
    "is_unparsed",
    "parse_arguments",
    "plain",
    "provider_error",
    "stream_failures",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asked the caller to run; ``id`` is the provider's call id."""

    id: str
    name: str
    input: JSONValue
    arguments: str = ""


@dataclass(slots=True)
class TurnResult:
    """One model call, mapped: the model, its usage, why it stopped, the calls it made."""

    model: str = ""
    message_id: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    server_tool_count: int = 0
    citations: list[dict[str, JSONValue]] = field(default_factory=list)
    text: str = ""
    is_complete: bool = True
    content: list[dict[str, JSONValue]] = field(default_factory=list)
    """The message's content blocks as the provider wants them back (Anthropic)."""


UNPARSED = "_unparsed"


def parse_arguments(arguments: str) -> JSONValue:
    """A tool call's streamed JSON arguments; ``{"_unparsed": text}`` if they are not JSON."""
    if not arguments:
        return {}
    try:
        parsed: JSONValue = json.loads(arguments)
    except ValueError:
        return {UNPARSED: arguments}
    return parsed


def is_unparsed(call: ToolCall) -> bool:
    """Whether the model's arguments for ``call`` were not valid JSON."""
    return isinstance(call.input, dict) and UNPARSED in call.input


def plain(value: object) -> JSONValue:
    """An SDK object as plain JSON (pydantic's ``model_dump``), encrypted blobs left out."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        value = dump(mode="json", exclude_none=True)
    # encrypted_content / encrypted_index are opaque to a UI and can be kilobytes each
    if isinstance(value, Mapping):
        return {
            str(key): plain(item)
            for key, item in value.items()
            if not str(key).startswith("encrypted_")
        }
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value  # what model_dump gave back
    return str(value)


def provider_error(exc: BaseException, *, provider: str) -> Error:
    """An ``error`` event from an SDK exception: the provider's error type, message, status."""
    error_type = getattr(exc, "type", None) or getattr(exc, "code", None) or type(exc).__name__
    message = (
        getattr(exc, "api_message", None)
        or getattr(exc, "message", None)
        or str(exc)
        or type(exc).__name__
    )
    details: dict[str, JSONValue] = {"provider": provider, "exception": type(exc).__name__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        details["status_code"] = status
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str):
        details["request_id"] = request_id
    # OpenAI's type is coarse (invalid_request_error); its code says what went wrong
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code != error_type:
        details["code"] = code
    retry_after = _retry_after_s(getattr(exc, "response", None))
    if retry_after is not None:
        details["retry_after_s"] = retry_after
    return Error(error_type=str(error_type), message=str(message), details=details)


def _retry_after_s(response: object) -> float | None:
    """The seconds a refusal's ``retry-after`` header asks to wait (RFC 9110), if it is a number."""
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if isinstance(headers, Mapping) else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from these APIs, and the client's clock may be off


def stream_failures(sdk: ModuleType, *, extra: str) -> tuple[type[Exception], ...]:
    """What reading ``sdk``'s stream raises when the provider or the connection fails.

    The SDK's ``APIError``, and its HTTP library's ``TransportError``: once a response has
    started, the SDKs let a cut connection or a read timeout through unwrapped.
    """
    http = require("httpx2", extra=extra, user=f"agent_stream.adapters.{extra}")
    return (sdk.APIError, http.TransportError)


def incomplete_error(*, provider: str, expected: str) -> Error:
    """The ``error`` for a stream that ended cleanly before the event that closes it."""
    return Error(
        error_type="incomplete-stream",
        message=(
            f"the {provider} stream ended before {expected}: the connection was closed "
            "before the answer was complete"
        ),
        details={"provider": provider, "expected": expected},
    )


async def close_stream(stream: object) -> None:
    """Close an SDK stream (``close()`` or ``aclose()``), releasing its HTTP response."""
    close = getattr(stream, "close", None) or getattr(stream, "aclose", None)
    if close is None:
        return
    result = close()
    if inspect.isawaitable(result):
        await result
