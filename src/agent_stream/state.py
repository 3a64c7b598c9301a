"""``StreamState``: what a client shows, folded from a stream's events.

``fold(state, event)`` is pure: it returns a new :class:`StreamState` and never changes the one it
was given, so a UI can keep old snapshots and compare them by identity (an event that changes
nothing returns the same object). Unknown event types and anything after ``done`` leave the state
as it is.

Cost: folding is O(1) amortized per event, so a client can fold ~10^5-10^6 events/s. Text is kept
as a list of chunks and joined the first time ``state.text`` is read (O(length), then cached per
state); ``tool_use`` / ``tool_result`` copy the small active-tool map. Snapshots share their chunk
list, so fold a given state from one thread at a time.

Example::

    state = StreamState()
    for event in events:
        state = fold(state, event)
    print(state.text, state.is_done)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, assert_never

import msgspec

from .events import (
    UNSET,
    AgentEvent,
    Creation,
    Done,
    DoneReason,
    Error,
    InputRequired,
    InputResponse,
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
)

__all__ = ["FinishedTool", "StreamState", "fold"]


class _Chunks:
    """Append-only text shared between snapshots: each one sees its first ``count`` chunks."""

    __slots__ = ("_count", "_joined", "_parts")

    def __init__(self, parts: list[str], count: int) -> None:
        self._parts = parts
        self._count = count
        self._joined: str | None = None

    def plus(self, chunk: str) -> _Chunks:
        parts = self._parts
        if len(parts) != self._count:
            # A later snapshot of an older state already extended the shared list: fork it.
            parts = parts[: self._count]
        parts.append(chunk)
        return _Chunks(parts, self._count + 1)

    def __str__(self) -> str:
        joined = self._joined
        if joined is None:
            joined = "".join(self._parts[: self._count])
            self._joined = joined
            # Compact: appends from this snapshot start from one chunk, not from all of them.
            self._parts = [joined]
            self._count = 1
        return joined

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Chunks):
            return NotImplemented
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


_NO_TEXT = _Chunks([], 0)
_NO_TOOLS: Mapping[str, ToolUse] = MappingProxyType({})


class FinishedTool(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call that ended, joined from its ``tool_use`` and ``tool_result`` events."""

    tool_use_id: str
    tool_name: str
    status: Literal["done", "error"]
    duration_ms: int | float
    input_summary: str = ""
    output_summary: str = ""
    input: JSONValue | UnsetType = UNSET
    output: JSONValue | UnsetType = UNSET


class StreamState(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable snapshot of a stream as a UI shows it.

    ``active_tools`` maps ``tool_use_id`` to its running :class:`ToolUse`, in start order;
    ``tools`` lists finished calls in finish order. ``progress``, ``error`` and
    ``input_required`` hold the latest such event (``input_required`` is cleared once the agent
    goes on, by the ``input_response`` that closes it, or at ``done``); ``answers`` lists the
    ``input_response`` events (answered, expired or cancelled questions) in order. ``turn`` is
    the latest ``turn_number`` (0 before any); ``done`` is the ``done`` event, and ``done``
    empties ``active_tools`` (the run is over).
    """

    is_streaming: bool = False
    is_done: bool = False
    active_tools: Mapping[str, ToolUse] = _NO_TOOLS
    tools: tuple[FinishedTool, ...] = ()
    progress: Progress | None = None
    error: Error | None = None
    turn: int = 0
    done: Done | None = None
    input_required: InputRequired | None = None
    answers: tuple[InputResponse, ...] = ()
    creations: tuple[Creation, ...] = ()
    _text: _Chunks = _NO_TEXT
    _thinking: _Chunks = _NO_TEXT

    @property
    def text(self) -> str:
        """The answer text so far (all ``token`` chunks joined)."""
        return str(self._text)

    @property
    def thinking(self) -> str:
        """The reasoning text so far (all ``thinking`` chunks joined)."""
        return str(self._thinking)

    @property
    def done_reason(self) -> DoneReason | None:
        """None until ``done``; then its ``reason``, or ``"completed"`` if it gave none."""
        if self.done is None:
            return None
        reason = self.done.reason
        return "completed" if reason is UNSET else reason

    def apply(self, event: AgentEvent, /) -> StreamState:
        """``fold(self, event)``."""
        return fold(self, event)

    def apply_all(self, events: Iterable[AgentEvent], /) -> StreamState:
        """This state with every event of ``events`` folded in, in order."""
        state = self
        for event in events:
            state = fold(state, event)
        return state


_replace = msgspec.structs.replace


def fold(state: StreamState, event: AgentEvent, /) -> StreamState:
    """The state after ``event``; ``state`` itself is left unchanged."""
    if state.is_done:
        return state
    match event:
        case Token():
            return _replace(
                state, _text=state._text.plus(event.text), is_streaming=True, input_required=None
            )
        case Thinking():
            return _replace(
                state,
                _thinking=state._thinking.plus(event.text),
                is_streaming=True,
                input_required=None,
            )
        case ToolUse():
            active = dict(state.active_tools)
            active[event.tool_use_id] = event
            return _replace(
                state,
                active_tools=MappingProxyType(active),
                is_streaming=True,
                input_required=None,
            )
        case ToolResult():
            active = dict(state.active_tools)
            started = active.pop(event.tool_use_id, None)
            finished = FinishedTool(
                tool_use_id=event.tool_use_id,
                tool_name=event.tool_name,
                status=event.status,
                duration_ms=event.duration_ms,
                input_summary="" if started is None else started.input_summary,
                output_summary=event.output_summary,
                input=UNSET if started is None else started.input,
                output=event.output,
            )
            return _replace(
                state,
                active_tools=MappingProxyType(active) if active else _NO_TOOLS,
                tools=(*state.tools, finished),
                is_streaming=True,
                input_required=None,
            )
        case Turn():
            return _replace(state, turn=event.turn_number, is_streaming=True, input_required=None)
        case Progress():
            return _replace(state, progress=event, is_streaming=True)
        case Creation():
            return _replace(
                state,
                creations=(*state.creations, event),
                is_streaming=True,
                input_required=None,
            )
        case Error():
            return _replace(state, error=event, is_streaming=True, input_required=None)
        case Done():
            # The run is over, so nothing is running; unfinished calls get no result.
            return _replace(
                state,
                done=event,
                is_done=True,
                is_streaming=False,
                input_required=None,
                active_tools=_NO_TOOLS,
            )
        case InputRequired():
            return _replace(state, input_required=event, is_streaming=True)
        case InputResponse():
            pending = state.input_required
            if pending is not None and pending.request_id == event.request_id:
                pending = None
            return _replace(
                state,
                answers=(*state.answers, event),
                input_required=pending,
                is_streaming=True,
            )
        case Start():
            return state if state.is_streaming else _replace(state, is_streaming=True)
        case Reconnect() | UnknownEvent():
            # Reconnect only tells the transport to resume; unknown types are ignored by design.
            return state
        case _:
            assert_never(event)
