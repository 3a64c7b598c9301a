"""``AgentStreamEmitter``: typed events in, SSE frames out.

The method names, arguments and defaults are those of agent-event-stream 0.1, so code written for
it runs unchanged; each method returns one frame as ``str``. Given a ``stream_id``, frames are
numbered ``id: <stream_id>:<seq>`` (seq from 1), which is what makes a stream resumable.
Servers that write bytes use :meth:`AgentStreamEmitter.emit_bytes`, which skips the ``str``
round trip. The frame text comes from :mod:`agent_stream.framing`.

Example::

    emitter = AgentStreamEmitter(new_stream_id())
    yield emitter.token("Hello")
    yield emitter.tool_use("search", "tu_1", "query=foo")
    yield emitter.done(message_id="msg_1", num_turns=1, tool_count=1)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from json.encoder import encode_basestring

from .errors import UsageError, truncate
from .events import (
    UNSET,
    AgentEvent,
    Creation,
    Done,
    DoneReason,
    Error,
    InputRequired,
    InputResponse,
    InputStatus,
    JSONValue,
    Progress,
    Reconnect,
    Start,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    UnsetType,
    encode_data,
)
from .framing import event_head, id_prefix

__all__ = [
    "AgentStreamEmitter",
    "check_stream_id",
    "format_event_id",
    "new_stream_id",
    "parse_event_id",
]

_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_EVENT_ID = re.compile(r"([A-Za-z0-9_-]{1,128}):(0|[1-9][0-9]{0,17})")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
# json's C string quoter: escapes '"', '\\' and control characters, keeps other text as is.
_quote: Callable[[str], str] = encode_basestring
# The frame pieces come from the framing module (the one writer of SSE lines); the hot paths
# splice seq and JSON between them.
_TOKEN_NO_ID = event_head("token", after_id=False) + '{"text":'
_TOKEN_AFTER_ID = event_head("token", after_id=True) + '{"text":'
_THINKING_NO_ID = event_head("thinking", after_id=False) + '{"text":'
_THINKING_AFTER_ID = event_head("thinking", after_id=True) + '{"text":'
_HEADS: dict[str, tuple[str, str]] = {}


def _heads(event_type: str) -> tuple[str, str]:
    # (without an id, after an id's seq), made once per event type
    heads = _HEADS.get(event_type)
    if heads is None:
        heads = (event_head(event_type, after_id=False), event_head(event_type, after_id=True))
        if len(_HEADS) < 256:  # unknown types are bounded by what a program names
            _HEADS[event_type] = heads
    return heads


def new_stream_id() -> str:
    """A fresh, unguessable stream id: 128 random bits, URL-safe base64 (22 characters)."""
    return secrets.token_urlsafe(16)


def check_stream_id(stream_id: str) -> str:
    """``stream_id`` if it is 1-128 characters of ``[A-Za-z0-9_-]``; else UsageError."""
    if not _STREAM_ID.fullmatch(stream_id):
        raise UsageError(
            f"stream id {truncate(stream_id)} is not 1-128 characters of [A-Za-z0-9_-]; "
            "use agent_stream.emitter.new_stream_id()",
            code="invalid-stream-id",
        )
    return stream_id


def format_event_id(stream_id: str, seq: int) -> str:
    """The SSE id of event ``seq`` of a stream: ``<stream_id>:<seq>``."""
    return f"{stream_id}:{seq}"


def parse_event_id(event_id: str) -> tuple[str, int] | None:
    """Split ``<stream_id>:<seq>`` into its parts; ``None`` if it is not of that form."""
    match = _EVENT_ID.fullmatch(event_id)
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def _checked(event: AgentEvent) -> AgentEvent:
    if isinstance(event, Start | Reconnect):
        raise UsageError(
            f"{event.type!r} is a transport frame the server writes itself (start: id "
            "<stream_id>:<cursor> with retry; reconnect: no id); agents emit the other types",
            code="transport-event",
        )
    if isinstance(event, UnknownEvent) and not _EVENT_NAME.fullmatch(event.type):
        raise UsageError(
            f"event name {truncate(event.type)} is not 1-128 characters of [A-Za-z0-9_.:-]; "
            "event names are single-line tokens such as 'token'",
            code="invalid-event-name",
        )
    return event


class AgentStreamEmitter:
    """Formats typed agent events as SSE frames, numbering them when given a stream id.

    After ``done`` the stream is over: emitting again raises :class:`UsageError`.
    """

    __slots__ = ("_id_prefix", "_is_done", "_seq", "stream_id")

    def __init__(self, stream_id: str | None = None, *, start_seq: int = 1) -> None:
        if stream_id is not None:
            check_stream_id(stream_id)
        if start_seq < 1:
            raise UsageError(f"start_seq must be >= 1, got {start_seq}", code="invalid-seq")
        self.stream_id = stream_id
        self._id_prefix = None if stream_id is None else id_prefix(stream_id)
        self._seq = start_seq - 1
        self._is_done = False

    @property
    def seq(self) -> int:
        """The seq of the last frame emitted (0 before the first)."""
        return self._seq

    @property
    def is_done(self) -> bool:
        """True once ``done`` was emitted."""
        return self._is_done

    def _next_prefix(self, event_type: str) -> str:
        if self._is_done:
            raise UsageError(
                f"cannot emit {event_type!r} after 'done': a stream ends with exactly one 'done'",
                code="emit-after-done",
            )
        if event_type == "done":
            self._is_done = True
        self._seq += 1
        no_id, after_id = _heads(event_type)
        if self._id_prefix is None:
            return no_id
        return f"{self._id_prefix}{self._seq}{after_id}"

    def emit(self, event: AgentEvent, /) -> str:
        """The SSE frame for any typed event (numbered, if the emitter has a stream id).

        Raises :class:`UsageError` after ``done``, for ``start`` / ``reconnect`` (transport frames
        the server writes itself) and for an :class:`UnknownEvent` whose name is not 1-128
        characters of ``[A-Za-z0-9_.:-]``.
        """
        data = encode_data(_checked(event))
        return f"{self._next_prefix(event.type)}{data.decode()}\n\n"

    def emit_bytes(self, event: AgentEvent, /) -> bytes:
        """Like :meth:`emit`, as bytes ready for the socket."""
        data = encode_data(_checked(event))
        return b"%b%b\n\n" % (self._next_prefix(event.type).encode(), data)

    # The original agent-event-stream 0.1 API, names and defaults unchanged.

    def token(self, text: str, *, message_id: str | UnsetType = UNSET) -> str:
        """Incremental text chunk from the agent."""
        if message_id is UNSET and not self._is_done:
            # Hot path: one C-level JSON string quote and one f-string per frame. Lone
            # surrogates (category Cs) are not printable, so printable text skips the check.
            if not text.isascii() and not text.isprintable():
                try:
                    text.encode()
                except UnicodeEncodeError:
                    return self.emit(Token(text=text))  # raises the UsageError
            self._seq = seq = self._seq + 1
            prefix = self._id_prefix
            if prefix is None:
                return f"{_TOKEN_NO_ID}{_quote(text)}}}\n\n"
            return f"{prefix}{seq}{_TOKEN_AFTER_ID}{_quote(text)}}}\n\n"
        return self.emit(Token(text=text, message_id=message_id))

    def thinking(self, text: str, *, message_id: str | UnsetType = UNSET) -> str:
        """Extended reasoning / chain-of-thought block."""
        if message_id is UNSET and not self._is_done:
            # Hot path: one C-level JSON string quote and one f-string per frame. Lone
            # surrogates (category Cs) are not printable, so printable text skips the check.
            if not text.isascii() and not text.isprintable():
                try:
                    text.encode()
                except UnicodeEncodeError:
                    return self.emit(Thinking(text=text))  # raises the UsageError
            self._seq = seq = self._seq + 1
            prefix = self._id_prefix
            if prefix is None:
                return f"{_THINKING_NO_ID}{_quote(text)}}}\n\n"
            return f"{prefix}{seq}{_THINKING_AFTER_ID}{_quote(text)}}}\n\n"
        return self.emit(Thinking(text=text, message_id=message_id))

    def tool_use(
        self,
        tool_name: str,
        tool_use_id: str,
        input_summary: str = "",
        *,
        input: JSONValue | UnsetType = UNSET,
    ) -> str:
        """Tool invocation started."""
        return self.emit(
            ToolUse(
                tool_name=tool_name,
                tool_use_id=tool_use_id,
                input_summary=input_summary,
                input=input,
            )
        )

    def tool_result(
        self,
        tool_name: str,
        tool_use_id: str,
        output_summary: str = "",
        duration_ms: int = 0,
        is_error: bool = False,
        *,
        output: JSONValue | UnsetType = UNSET,
    ) -> str:
        """Tool execution completed."""
        return self.emit(
            ToolResult(
                tool_name=tool_name,
                tool_use_id=tool_use_id,
                output_summary=output_summary,
                duration_ms=duration_ms,
                status="error" if is_error else "done",
                output=output,
            )
        )

    def turn(self, turn_number: int, total_tools: int = 0) -> str:
        """Agentic turn boundary."""
        return self.emit(Turn(turn_number=turn_number, total_tools=total_tools))

    def progress(
        self,
        step: str,
        percentage: int | float,
        message: str,
        sub_progress: dict[str, JSONValue] | None = None,
    ) -> str:
        """Pipeline step progress update."""
        return self.emit(
            Progress(
                step=step,
                percentage=percentage,
                message=message,
                sub_progress=UNSET if sub_progress is None else sub_progress,
            )
        )

    def creation(
        self,
        creation_type: str,
        count: int,
        tool_use_id: str = "",
        items: list[dict[str, JSONValue]] | None = None,
    ) -> str:
        """Agent created a persistent artifact."""
        return self.emit(
            Creation(
                creation_type=creation_type,
                count=count,
                tool_use_id=tool_use_id,
                items=items or [],
            )
        )

    def error(
        self,
        error_type: str,
        message: str,
        details: dict[str, JSONValue] | None = None,
    ) -> str:
        """Structured error during execution."""
        return self.emit(Error(error_type=error_type, message=message, details=details or {}))

    def done(
        self,
        message_id: str = "",
        num_turns: int = 0,
        tool_count: int = 0,
        duration_ms: int = 0,
        model: str = "",
        total_cost_usd: float = 0.0,
        *,
        reason: DoneReason | UnsetType = UNSET,
    ) -> str:
        """Stream complete: always the last event emitted."""
        return self.emit(
            Done(
                message_id=message_id,
                num_turns=num_turns,
                tool_count=tool_count,
                duration_ms=duration_ms,
                model=model,
                total_cost_usd=total_cost_usd,
                reason=reason,
            )
        )

    def input_required(
        self,
        request_id: str,
        prompt: str,
        choices: list[str] | None = None,
        schema: dict[str, JSONValue] | None = None,
        *,
        respond_url: str | UnsetType = UNSET,
        expires_at: str | UnsetType = UNSET,
        allows_free_text: bool | UnsetType = UNSET,
    ) -> str:
        """The agent waits for a human answer (human in the loop)."""
        return self.emit(
            InputRequired(
                request_id=request_id,
                prompt=prompt,
                choices=UNSET if choices is None else choices,
                schema=UNSET if schema is None else schema,
                respond_url=respond_url,
                expires_at=expires_at,
                allows_free_text=allows_free_text,
            )
        )

    def input_response(
        self,
        request_id: str,
        answer: JSONValue | UnsetType = UNSET,
        *,
        status: InputStatus = "answered",
    ) -> str:
        """The ``input_required`` named ``request_id`` was answered (or expired, or cancelled)."""
        return self.emit(InputResponse(request_id=request_id, answer=answer, status=status))
