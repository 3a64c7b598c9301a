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
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

from .errors import InvalidEventError, ProtocolError, UsageError, truncate

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EVENT_TYPES",
    "PROTOCOL_VERSION",
    "UNSET",
    "AgentEvent",
    "Creation",
    "Done",
    "DoneReason",
    "Error",
    "InputRequired",
    "InputResponse",
    "InputStatus",
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
#: The largest event data (its JSON, in UTF-8 bytes) a server sends and a client accepts unless
#: configured otherwise; servers announce theirs in ``start.max_event_bytes``.
DEFAULT_MAX_EVENT_BYTES = 1 << 20

if TYPE_CHECKING:
    JSONValue: TypeAlias = (
        bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
    )
else:
    # msgspec resolves annotations at runtime and accepts any JSON value for ``Any``.
    JSONValue = Any
JSONObject: TypeAlias = dict[str, JSONValue]
DoneReason: TypeAlias = Literal["completed", "error", "cancelled", "interrupted"]


def _doc(description: str) -> msgspec.Meta:
    return msgspec.Meta(description=description)


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    type: ClassVar[str]


# Token and Thinking hold only strings, so they can never be part of a reference cycle:
# gc=False keeps them out of the cycle collector's allocation count. A client holds a read's
# events in a list before handing them out (ResumeCore.feed); with ~900 tracked tokens alive
# per 64 KiB read that count ran a collection per read (bench/RESULTS.md, Client).


class Token(_Event, frozen=True, kw_only=True, gc=False):
    """A chunk of the agent's answer text."""

    type: ClassVar[Literal["token"]] = "token"
    text: Annotated[str, _doc("Answer text, verbatim (may hold newlines, emoji, any Unicode).")]
    message_id: Annotated[
        str | UnsetType, _doc("The message this chunk belongs to, when the agent sends several.")
    ] = UNSET


class Thinking(_Event, frozen=True, kw_only=True, gc=False):
    """A chunk of the agent's reasoning, shown apart from the answer."""

    type: ClassVar[Literal["thinking"]] = "thinking"
    text: Annotated[str, _doc("Reasoning text, verbatim.")]
    message_id: Annotated[str | UnsetType, _doc("The message this chunk belongs to.")] = UNSET


class ToolUse(_Event, frozen=True, kw_only=True):
    """A tool call started. ``input`` carries the full arguments beside the summary."""

    type: ClassVar[Literal["tool_use"]] = "tool_use"
    tool_name: Annotated[str, _doc("Name of the tool called.")]
    tool_use_id: Annotated[str, _doc("Identifies this call; the matching tool_result repeats it.")]
    input_summary: Annotated[str, _doc("Short human-readable summary of the arguments.")] = ""
    status: Annotated[Literal["running"], _doc('Always "running".')] = "running"
    input: Annotated[
        JSONValue | UnsetType, _doc("The full arguments (any JSON), beside the summary.")
    ] = UNSET


class ToolResult(_Event, frozen=True, kw_only=True):
    """A tool call finished (``status`` ``done`` or ``error``) after ``duration_ms``."""

    type: ClassVar[Literal["tool_result"]] = "tool_result"
    tool_name: Annotated[str, _doc("Name of the tool called.")]
    tool_use_id: Annotated[str, _doc("The tool_use_id of the call that finished.")]
    output_summary: Annotated[str, _doc("Short human-readable summary of the result.")] = ""
    duration_ms: Annotated[int | float, _doc("How long the call ran, in milliseconds.")] = 0
    status: Annotated[Literal["done", "error"], _doc('"done", or "error" if the tool failed.')] = (
        "done"
    )
    output: Annotated[
        JSONValue | UnsetType, _doc("The full result (any JSON), beside the summary.")
    ] = UNSET


class Turn(_Event, frozen=True, kw_only=True):
    """An agentic turn boundary."""

    type: ClassVar[Literal["turn"]] = "turn"
    turn_number: Annotated[int, _doc("The turn that starts, from 1.")]
    total_tools: Annotated[int, _doc("Tool calls made so far in the run.")] = 0


class Progress(_Event, frozen=True, kw_only=True):
    """Progress of a pipeline step; ``percentage`` runs from 0 to 100."""

    type: ClassVar[Literal["progress"]] = "progress"
    step: Annotated[str, _doc("Name of the step.")]
    percentage: Annotated[int | float, _doc("Completion of the step, 0 to 100.")]
    message: Annotated[str, _doc("Human-readable status line.")]
    sub_progress: Annotated[JSONObject | UnsetType, _doc("Free-form details of sub-steps.")] = UNSET


class Creation(_Event, frozen=True, kw_only=True):
    """The agent created persistent artifacts."""

    type: ClassVar[Literal["creation"]] = "creation"
    creation_type: Annotated[str, _doc('Kind of artifact created (e.g. "file").')]
    count: Annotated[int, _doc("How many were created.")]
    tool_use_id: Annotated[str, _doc("The tool call that created them, if any.")] = ""
    items: Annotated[list[JSONObject], _doc("One object per artifact.")] = msgspec.field(
        default_factory=list
    )


class Error(_Event, frozen=True, kw_only=True):
    """The run failed (or a recoverable error happened). A failed run sends ``done`` next."""

    type: ClassVar[Literal["error"]] = "error"
    error_type: Annotated[
        str, _doc("Machine-readable kind of error (e.g. an exception class name).")
    ]
    message: Annotated[str, _doc("Human-readable description.")]
    details: Annotated[
        JSONObject, _doc("Free-form context; no tracebacks unless the server runs in debug mode.")
    ] = msgspec.field(default_factory=dict)


class Done(_Event, frozen=True, kw_only=True):
    """The end of the stream: exactly one per stream, always last.

    ``synthetic`` is set by a client that had to end a stream the server could not finish.
    """

    type: ClassVar[Literal["done"]] = "done"
    message_id: Annotated[str, _doc("Id of the final message.")] = ""
    num_turns: Annotated[int, _doc("Turns the run took.")] = 0
    tool_count: Annotated[int, _doc("Tool calls the run made.")] = 0
    duration_ms: Annotated[int | float, _doc("Wall time of the run, in milliseconds.")] = 0
    model: Annotated[str, _doc("Model that ran.")] = ""
    total_cost_usd: Annotated[float, _doc("Cost of the run in US dollars.")] = 0.0
    reason: Annotated[
        DoneReason | UnsetType, _doc('Why the stream ended; absent means "completed".')
    ] = UNSET
    synthetic: Annotated[
        bool | UnsetType, _doc("True when a client made this done because the server could not.")
    ] = UNSET
    stop_reason: Annotated[
        str | UnsetType,
        _doc('Why the model stopped, as its provider says it (e.g. "end_turn", "tool_calls").'),
    ] = UNSET
    input_tokens: Annotated[
        int | UnsetType, _doc("Prompt tokens of the run, cached ones included.")
    ] = UNSET
    output_tokens: Annotated[int | UnsetType, _doc("Tokens the model generated.")] = UNSET
    cache_read_tokens: Annotated[
        int | UnsetType, _doc("Prompt tokens served from the provider's cache.")
    ] = UNSET
    cache_write_tokens: Annotated[
        int | UnsetType, _doc("Prompt tokens written to the provider's cache.")
    ] = UNSET
    citations: Annotated[
        list[JSONObject] | UnsetType,
        _doc("Sources the answer cites, each with the answer-text offset it applies at."),
    ] = UNSET


class InputRequired(_Event, frozen=True, kw_only=True):
    """The agent waits for a human answer to ``prompt`` (human in the loop).

    ``choices`` lists allowed answers (any answer if ``allows_free_text``); ``schema`` is a JSON
    Schema of the expected answer; ``respond_url`` is where the answer is POSTed, when the server
    offers one, until ``expires_at``. An ``input_response`` with the same ``request_id`` closes it.
    """

    type: ClassVar[Literal["input_required"]] = "input_required"
    request_id: Annotated[str, _doc("Identifies this request; the answer names it.")]
    prompt: Annotated[str, _doc("The question for the human.")]
    choices: Annotated[
        list[str] | UnsetType, _doc("Allowed answers, if the answer is one of a list.")
    ] = UNSET
    schema: Annotated[JSONObject | UnsetType, _doc("JSON Schema of the expected answer.")] = UNSET
    respond_url: Annotated[
        str | UnsetType, _doc("Where the answer is POSTed, if the server offers it.")
    ] = UNSET
    expires_at: Annotated[
        str | UnsetType,
        _doc("RFC 3339 UTC time after which answers are refused (410) and the agent goes on."),
    ] = UNSET
    allows_free_text: Annotated[
        bool | UnsetType, _doc("True when an answer other than the choices is accepted too.")
    ] = UNSET
    tool_name: Annotated[
        str | UnsetType, _doc("For an approval: the tool the agent wants to call.")
    ] = UNSET
    tool_use_id: Annotated[
        str | UnsetType, _doc("For an approval: the id of the tool call awaiting approval.")
    ] = UNSET
    tool_input: Annotated[
        JSONValue | UnsetType, _doc("For an approval: the arguments of the tool call.")
    ] = UNSET


InputStatus: TypeAlias = Literal["answered", "expired", "cancelled"]


class InputResponse(_Event, frozen=True, kw_only=True):
    """An ``input_required`` request was closed: answered (with ``answer``), expired or cancelled.

    Every viewer, replay and recording sees the question closed and what was answered.
    """

    type: ClassVar[Literal["input_response"]] = "input_response"
    request_id: Annotated[str, _doc("The request_id of the input_required this closes.")]
    status: Annotated[
        InputStatus,
        _doc('"answered" (see answer), "expired" (nobody answered in time) or "cancelled".'),
    ] = "answered"
    answer: Annotated[
        JSONValue | UnsetType, _doc("The answer as POSTed (any JSON), when status is answered.")
    ] = UNSET


class Start(_Event, frozen=True, kw_only=True):
    """The priming event, first in every response: names the stream and how to resume it."""

    type: ClassVar[Literal["start"]] = "start"
    stream_id: Annotated[str, _doc("The stream's id (>= 128 random bits, [A-Za-z0-9_-]).")]
    protocol_version: Annotated[int, _doc("Version of this protocol the server speaks.")] = (
        PROTOCOL_VERSION
    )
    heartbeat_ms: Annotated[
        int, _doc("Interval of ': ping' comments while idle, in milliseconds.")
    ] = 15_000
    resume_url: Annotated[str, _doc("GET it with Last-Event-ID to resume this stream.")] = ""
    stop_url: Annotated[str, _doc("POST to it to stop the run.")] = ""
    report_url: Annotated[
        str,
        _doc("POST a client report to it when the client ends the stream with a synthetic done."),
    ] = ""
    resumed: Annotated[bool, _doc("True when this response resumes an earlier one.")] = False
    resume_window_ms: Annotated[
        int | UnsetType,
        _doc(
            "How long after its last sign of life (a byte or an answer) a client can still "
            "resume: the server keeps a disconnected run alive, then its events, this long. "
            "Absent when the server cannot say (e.g. a run that goes on without its client)."
        ),
    ] = UNSET
    max_event_bytes: Annotated[
        int | UnsetType,
        _doc(
            "The largest event data (the JSON of its data line, in UTF-8 bytes) the server "
            "sends: it refuses a larger event with an error event (event-too-large). Clients "
            "accept events up to this size unless configured otherwise; absent when the "
            "server does not say (clients then keep their default, 1048576)."
        ),
    ] = UNSET


class Reconnect(_Event, frozen=True, kw_only=True):
    """Sent without an id before the server goes away: resume now with ``Last-Event-ID``."""

    type: ClassVar[Literal["reconnect"]] = "reconnect"
    reason: Annotated[
        str, _doc('Why the server asks for a reconnect (e.g. "server-shutdown").')
    ] = "server-shutdown"


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
    | InputResponse
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
        InputResponse,
        Start,
        Reconnect,
    )
}

_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}
_ANY_DECODER: msgspec.json.Decoder[JSONValue] = msgspec.json.Decoder()


def _to_str(value: object) -> str:
    # agent-event-stream 0.1 encoded with ``json.dumps(data, default=str)``: objects JSON has
    # no form for (in ``details``, ``items``, ...) became their ``str``; code relying on that
    # keeps working.
    return str(value)


_ENCODER = msgspec.json.Encoder(enc_hook=_to_str)


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

    Values JSON cannot hold are written as their ``str`` (as the 0.1 emitter did). Raises
    :class:`~agent_stream.errors.UsageError` for text that cannot be UTF-8 (lone surrogates).
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
