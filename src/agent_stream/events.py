"""Typed payloads for every agent-stream event type.

Each event is a frozen, slotted ``msgspec.Struct`` whose class attribute ``type`` is the SSE event
name. The nine original types (``token`` … ``done``) keep the field names and defaults of
agent-event-stream 0.1, so an original client and ours read each other's streams; everything
added is optional (``UNSET`` fields are left out of the JSON). Unknown types decode to
:class:`UnknownEvent` so a newer peer never breaks an older one.

``spec/events.schema.json`` is generated from these classes (``python -m agent_stream.schema``)
and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

from .errors import InvalidEventError, ProtocolError, UsageError, truncate

__all__ = [
    "EVENT_TYPES",
    "PROTOCOL_VERSION",
    "UNSET",
    "AgentEvent",
    "Creation",
    "Done",
    "DoneReason",
    "Error",
    "InputRequired",
    "JSONValue",
    "KnownEvent",
    "Progress",
    "Reconnect",
    "Start",
    "Thinking",
    "Token",
    "ToolResult",
    "ToolUse",
    "Turn",
    "UnknownEvent",
    "UnsetType",
    "encode_data",
    "event_to_dict",
    "parse_event",
]

PROTOCOL_VERSION = 1

if TYPE_CHECKING:
    JSONValue: TypeAlias = (
        bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
    )
else:
    # msgspec resolves annotations at runtime and accepts any JSON value for ``Any``.
    JSONValue = Any
JSONObject: TypeAlias = dict[str, JSONValue]
DoneReason: TypeAlias = Literal["completed", "error", "cancelled", "interrupted"]


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    type: ClassVar[str]


class Token(_Event, frozen=True, kw_only=True):
    """A chunk of the agent's answer text."""

    type: ClassVar[Literal["token"]] = "token"
    text: str
    message_id: str | UnsetType = UNSET


class Thinking(_Event, frozen=True, kw_only=True):
    """A chunk of the agent's reasoning, shown apart from the answer."""

    type: ClassVar[Literal["thinking"]] = "thinking"
    text: str
    message_id: str | UnsetType = UNSET


class ToolUse(_Event, frozen=True, kw_only=True):
    """A tool call started. ``input`` carries the full arguments beside the summary."""

    type: ClassVar[Literal["tool_use"]] = "tool_use"
    tool_name: str
    tool_use_id: str
    input_summary: str = ""
    status: Literal["running"] = "running"
    input: JSONValue | UnsetType = UNSET


class ToolResult(_Event, frozen=True, kw_only=True):
    """A tool call finished (``status`` ``done`` or ``error``) after ``duration_ms``."""

    type: ClassVar[Literal["tool_result"]] = "tool_result"
    tool_name: str
    tool_use_id: str
    output_summary: str = ""
    duration_ms: int = 0
    status: Literal["done", "error"] = "done"
    output: JSONValue | UnsetType = UNSET


class Turn(_Event, frozen=True, kw_only=True):
    """An agentic turn boundary."""

    type: ClassVar[Literal["turn"]] = "turn"
    turn_number: int
    total_tools: int = 0


class Progress(_Event, frozen=True, kw_only=True):
    """Progress of a pipeline step; ``percentage`` runs from 0 to 100."""

    type: ClassVar[Literal["progress"]] = "progress"
    step: str
    percentage: int | float
    message: str
    sub_progress: JSONObject | UnsetType = UNSET


class Creation(_Event, frozen=True, kw_only=True):
    """The agent created persistent artifacts."""

    type: ClassVar[Literal["creation"]] = "creation"
    creation_type: str
    count: int
    tool_use_id: str = ""
    items: list[JSONObject] = msgspec.field(default_factory=list)


class Error(_Event, frozen=True, kw_only=True):
    """The run failed (or a recoverable error happened). A failed run sends ``done`` next."""

    type: ClassVar[Literal["error"]] = "error"
    error_type: str
    message: str
    details: JSONObject = msgspec.field(default_factory=dict)


class Done(_Event, frozen=True, kw_only=True):
    """The end of the stream: exactly one per stream, always last.

    ``synthetic`` is set by a client that had to end a stream the server could not finish.
    """

    type: ClassVar[Literal["done"]] = "done"
    message_id: str = ""
    num_turns: int = 0
    tool_count: int = 0
    duration_ms: int = 0
    model: str = ""
    total_cost_usd: float = 0.0
    reason: DoneReason | UnsetType = UNSET
    synthetic: bool | UnsetType = UNSET


class InputRequired(_Event, frozen=True, kw_only=True):
    """The agent waits for a human answer to ``prompt`` (human in the loop).

    ``choices`` lists allowed answers; ``schema`` is a JSON Schema of the expected answer;
    ``respond_url`` is where the answer is POSTed, when the server offers one.
    """

    type: ClassVar[Literal["input_required"]] = "input_required"
    request_id: str
    prompt: str
    choices: list[str] | UnsetType = UNSET
    schema: JSONObject | UnsetType = UNSET
    respond_url: str | UnsetType = UNSET


class Start(_Event, frozen=True, kw_only=True):
    """The priming event, first in every response: names the stream and how to resume it."""

    type: ClassVar[Literal["start"]] = "start"
    stream_id: str
    protocol_version: int = PROTOCOL_VERSION
    heartbeat_ms: int = 15_000
    resume_url: str = ""
    stop_url: str = ""
    resumed: bool = False


class Reconnect(_Event, frozen=True, kw_only=True):
    """Sent without an id before the server goes away: resume now with ``Last-Event-ID``."""

    type: ClassVar[Literal["reconnect"]] = "reconnect"
    reason: str = "server-shutdown"


class UnknownEvent(msgspec.Struct, frozen=True):
    """An event type this version does not know; kept as raw JSON data, never an error."""

    type: str
    data: JSONValue = None


KnownEvent: TypeAlias = (
    Token
    | Thinking
    | ToolUse
    | ToolResult
    | Turn
    | Progress
    | Creation
    | Error
    | Done
    | InputRequired
    | Start
    | Reconnect
)
AgentEvent: TypeAlias = KnownEvent | UnknownEvent

EVENT_TYPES: dict[str, type[KnownEvent]] = {
    cls.type: cls
    for cls in (
        Token,
        Thinking,
        ToolUse,
        ToolResult,
        Turn,
        Progress,
        Creation,
        Error,
        Done,
        InputRequired,
        Start,
        Reconnect,
    )
}

_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}
_ANY_DECODER: msgspec.json.Decoder[JSONValue] = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()


def _field_of(message: str) -> str:
    # msgspec messages end with "- at `$.path`" and name a missing field in backticks;
    # together they are the JSON path a user needs.
    head, sep, path = message.rpartition(" - at `")
    path = path.rstrip("`") if sep else "$"
    if not sep:
        head = message
    marker = "missing required field `"
    if marker in head:
        path += "." + head.split(marker, 1)[1].split("`", 1)[0]
    return path


def parse_event(
    event_type: str, data: bytes | str | Mapping[str, object] | list[object], /
) -> AgentEvent:
    """Build the typed event for ``event_type`` from its JSON ``data``.

    ``data`` is JSON text (``str`` or ``bytes``) or an already decoded object or array.

    Unknown types give :class:`UnknownEvent`. Raises :class:`ProtocolError` (``invalid-json``)
    for data that is not JSON and :class:`InvalidEventError` naming the field for data that
    does not match the type.
    """
    decoder = _DECODERS.get(event_type)
    try:
        if isinstance(data, str | bytes):
            if decoder is None:
                return UnknownEvent(event_type, _ANY_DECODER.decode(data))
            return decoder.decode(data)
        if decoder is None:
            return UnknownEvent(event_type, msgspec.to_builtins(data))
        return msgspec.convert(data, EVENT_TYPES[event_type])
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise InvalidEventError(
            f"invalid {event_type!r} event: {message}",
            event_type=event_type,
            field=_field_of(message),
        ) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(
            f"{event_type!r} event data is not valid JSON ({exc}): {truncate(data)}",
            code="invalid-json",
            line=truncate(data),
        ) from None


def encode_data(event: AgentEvent, /) -> bytes:
    """The event's ``data`` as compact single-line UTF-8 JSON.

    Raises :class:`~agent_stream.errors.UsageError` for text that cannot be UTF-8 (lone
    surrogates).
    """
    try:
        if isinstance(event, UnknownEvent):
            return _ENCODER.encode(event.data)
        return _ENCODER.encode(event)
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{event.type!r} event contains text that is not valid Unicode "
            f"({exc.reason} at index {exc.start}); encode text as UTF-8 without lone surrogates",
            code="invalid-text",
        ) from None


def event_to_dict(event: AgentEvent, /) -> dict[str, JSONValue]:
    """The event's data as a plain dict (unset optional fields left out)."""
    if isinstance(event, UnknownEvent):
        data = event.data
        return dict(data) if isinstance(data, dict) else {"value": data}
    result: dict[str, JSONValue] = msgspec.to_builtins(event)
    return result
