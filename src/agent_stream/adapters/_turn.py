"""What one model call produced, shared by the SDK adapters and :func:`tool_loop`."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..events import Error, JSONValue
from ._usage import Usage

__all__ = ["ToolCall", "TurnResult", "close_stream", "plain", "provider_error"]


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
    message = getattr(exc, "api_message", None) or getattr(exc, "message", None) or str(exc)
    details: dict[str, JSONValue] = {"provider": provider, "exception": type(exc).__name__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        details["status_code"] = status
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str):
        details["request_id"] = request_id
    return Error(error_type=str(error_type), message=str(message), details=details)


async def close_stream(stream: object) -> None:
    """Close an SDK stream (``close()`` or ``aclose()``), releasing its HTTP response."""
    close = getattr(stream, "close", None) or getattr(stream, "aclose", None)
    if close is None:
        return
    result = close()
    if inspect.isawaitable(result):
        await result
