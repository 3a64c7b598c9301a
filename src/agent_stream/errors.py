"""One exception tree for agent-stream, split by whose fault it is.

```
AgentStreamError
├── UsageError            our API was misused: a newline in an event name, emit after done
├── ProtocolError         the peer sent bad bytes: malformed frame, invalid UTF-8, oversize event
│   └── InvalidEventError an event's JSON does not match the schema (names the field)
├── ResumeError           Last-Event-ID malformed, unknown, expired or not this stream's
├── StoreUnavailableError the replay store (e.g. Redis) cannot be reached; retry later
├── HTTPStatusError       the server answered non-2xx; surfaced at once, never retried
├── AnswerError           an answer to input_required was refused (404/409/410/422)
└── InputError            ask()/approve() got no answer
    ├── InputTimeoutError   nobody answered before expires_at
    └── InputCancelledError the person cancelled the question
```

Every error carries a stable ``code`` (a short kebab-case string programs can switch on) and
the context a program needs; ``str(error)`` says what happened, the offending value
(truncated) and what to do.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AgentStreamError",
    "AnswerError",
    "HTTPStatusError",
    "InputCancelledError",
    "InputError",
    "InputTimeoutError",
    "InvalidEventError",
    "ProtocolError",
    "ResumeError",
    "StoreUnavailableError",
    "UsageError",
    "truncate",
]


def truncate(value: object, limit: int = 80) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


class AgentStreamError(Exception):
    """Base class of every error agent-stream raises on purpose."""

    code: str = "agent-stream-error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(AgentStreamError):
    """The library's API was used in a way it does not allow (the caller's bug)."""

    code = "usage-error"


class ProtocolError(AgentStreamError):
    """The peer sent bytes that break the protocol.

    ``line`` holds the offending input (truncated) when there is one. Events completed before
    the bad input are never lost: decoders return or keep them before raising.
    """

    code = "protocol-error"

    def __init__(self, message: str, *, code: str | None = None, line: str | None = None) -> None:
        super().__init__(message, code=code)
        self.line = line


class InvalidEventError(ProtocolError):
    """An event's payload does not match ``spec/events.schema.json``.

    ``event_type`` is the SSE event name and ``field`` a JSON path such as ``$.text``.
    """

    code = "invalid-event"

    def __init__(
        self,
        message: str,
        *,
        event_type: str,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.event_type = event_type
        self.field = field


class ResumeError(AgentStreamError):
    """A resume cursor (``Last-Event-ID``) cannot be honoured.

    ``code`` is one of ``malformed-id`` (HTTP 400), ``unknown-stream`` (404; also the answer for
    another owner's stream, so existence does not leak) or ``expired`` (410, with
    ``earliest_id`` naming the oldest id still available when there is one).
    """

    code = "unknown-stream"

    _STATUS: ClassVar[dict[str, int]] = {"malformed-id": 400, "unknown-stream": 404, "expired": 410}

    def __init__(
        self,
        message: str,
        *,
        code: str = "unknown-stream",
        last_event_id: str | None = None,
        earliest_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.last_event_id = last_event_id
        self.earliest_id = earliest_id

    @property
    def status_code(self) -> int:
        """The HTTP status a server answers this error with."""
        return self._STATUS.get(self.code, 400)


class StoreUnavailableError(AgentStreamError):
    """The replay store cannot be reached right now (HTTP 503 with ``Retry-After``)."""

    code = "store-unavailable"

    def __init__(
        self, message: str, *, retry_after_s: float = 1.0, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class HTTPStatusError(AgentStreamError):
    """The server answered with a status of 400 or more. Never retried automatically."""

    code = "http-status"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        self.url = url


class AnswerError(AgentStreamError):
    """An answer POSTed to a ``respond_url`` was refused.

    ``code`` is ``invalid-request`` (HTTP 400: not ``{"request_id", "answer"}``),
    ``unknown-request`` (404; also for another owner's stream), ``already-answered`` (409),
    ``input-expired`` (410: past ``expires_at``), ``input-closed`` (410: the run ended first) or
    ``invalid-answer`` (422: not one of the choices, or fails the schema; ``reason`` says why).
    """

    code = "unknown-request"

    _STATUS: ClassVar[dict[str, int]] = {
        "invalid-request": 400,
        "unknown-request": 404,
        "already-answered": 409,
        "input-expired": 410,
        "input-closed": 410,
        "invalid-answer": 422,
    }

    def __init__(
        self, message: str, *, code: str = "unknown-request", reason: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.reason = reason

    @property
    def status_code(self) -> int:
        """The HTTP status the respond route answers this error with."""
        return self._STATUS.get(self.code, 400)


class InputError(AgentStreamError):
    """``ask()`` / ``approve()`` got no answer; ``request_id`` names the question."""

    code = "input-error"

    def __init__(self, message: str, *, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class InputTimeoutError(InputError):
    """Nobody answered before the question's ``expires_at``; the stream shows it expired."""

    code = "input-expired"


class InputCancelledError(InputError):
    """The person cancelled the question (``{"request_id", "cancel": true}``)."""

    code = "input-cancelled"
