"""Runs of our events that the bridge tests encode, and a helper to feed them to an encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agent_stream.events import (
    AgentEvent,
    Creation,
    Done,
    Error,
    InputRequired,
    Progress,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    encode_data,
)
from agent_stream.sse import ServerSentEvent, SSEDecoder

Stored = tuple[int, str, bytes]


class Encoder(Protocol):
    def priming(self, cursor: int) -> bytes: ...
    def encode(self, seq: int, event_type: str, data: bytes) -> bytes: ...
    def skip(self, seq: int, event_type: str, data: bytes) -> None: ...


def stored(events: Sequence[AgentEvent]) -> list[Stored]:
    """The events as the store holds them: (seq, type, JSON data)."""
    return [(seq, event.type, encode_data(event)) for seq, event in enumerate(events, 1)]


def wire(encoder: Encoder, events: Sequence[Stored], *, after: int = 0) -> bytes:
    """What a response that resumes after seq ``after`` sends (priming block first)."""
    parts = [encoder.priming(after)]
    for seq, event_type, data in events:
        if seq <= after:
            encoder.skip(seq, event_type, data)
        else:
            parts.append(encoder.encode(seq, event_type, data))
    return b"".join(parts)


def decoded(body: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [*decoder.feed(body), *decoder.close()]


EVERY_TYPE: list[AgentEvent] = [
    Progress(step="plan", percentage=0, message="Planning"),
    Thinking(text="The user asks “¿qué tal?” "),
    Thinking(text="— think in 中文 too 🤔"),
    Turn(turn_number=1),
    ToolUse(
        tool_name="search", tool_use_id="tu_1", input_summary="q=Lisbon", input={"q": "Lisbon"}
    ),
    Progress(step="plan", percentage=50, message="Half way", sub_progress={"done": 1, "of": 2}),
    ToolResult(tool_name="search", tool_use_id="tu_1", output_summary="3 hits", output=["a", "b"]),
    ToolUse(tool_name="fail", tool_use_id="tu_2", input_summary="x"),
    ToolResult(tool_name="fail", tool_use_id="tu_2", output_summary="boom", status="error"),
    Creation(creation_type="file", count=1, tool_use_id="tu_1", items=[{"name": "plan.md"}]),
    InputRequired(request_id="rq_1", prompt="Which city?", choices=["Lisbon", "Porto"]),
    UnknownEvent("custom_thing", {"k": [1, 2, 3]}),
    Turn(turn_number=2, total_tools=2),
    Token(text="Olá, "),
    Token(text="naïve café ☕ — 🎉👩‍👩‍👧 "),
    Token(text='line\nbreak \u2028 and "quotes" \\ '),
    Progress(step="plan", percentage=100, message="Done"),
    Token(text="second message", message_id="m_2"),
    Error(error_type="RateLimit", message="slow down", details={"retry_s": 1}),
    Token(text=" after a recoverable error"),
    Done(message_id="m_2", num_turns=2, tool_count=2, duration_ms=12.5, model="demo"),
]
EMPTY: list[AgentEvent] = [Done()]
FAILED: list[AgentEvent] = [
    Turn(turn_number=1),
    Token(text="partial ✂"),
    Error(error_type="ValueError", message="the agent raised ValueError: bad"),
    Done(reason="error"),
]
INTERRUPTED: list[AgentEvent] = [
    Thinking(text="hmm"),
    Progress(step="fetch", percentage=30, message="Fetching"),
    Error(error_type="interrupted", message="the process running this stream's agent stopped"),
    Done(reason="interrupted"),
]
CANCELLED: list[AgentEvent] = [Token(text="stop me"), Done(reason="cancelled")]
ALL_RUNS = {
    "every-type": EVERY_TYPE,
    "empty": EMPTY,
    "failed": FAILED,
    "interrupted": INTERRUPTED,
    "cancelled": CANCELLED,
}
