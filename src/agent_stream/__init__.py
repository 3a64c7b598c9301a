"""agent-stream: typed, resumable Server-Sent Events for AI agents.

``import agent_stream`` loads the sans-I/O core only (events, SSE framing, the emitter, token
batching, state folding); servers, clients and integrations live in submodules with extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .batching import TokenBatcher
from .emitter import AgentStreamEmitter, new_stream_id
from .errors import (
    AgentStreamError,
    AnswerError,
    HTTPStatusError,
    InputCancelledError,
    InputError,
    InputTimeoutError,
    InvalidEventError,
    ProtocolError,
    ResumeError,
    StoreUnavailableError,
    UsageError,
)
from .events import (
    AgentEvent,
    Creation,
    Done,
    Error,
    InputRequired,
    InputResponse,
    Progress,
    Reconnect,
    Start,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
    parse_event,
)
from .state import FinishedTool, StreamState, fold

if TYPE_CHECKING:
    from .recording import JsonlRecorder

__version__ = "0.2.0"

__all__ = [
    "AgentEvent",
    "AgentStreamEmitter",
    "AgentStreamError",
    "AnswerError",
    "Creation",
    "Done",
    "Error",
    "FinishedTool",
    "HTTPStatusError",
    "InputCancelledError",
    "InputError",
    "InputRequired",
    "InputResponse",
    "InputTimeoutError",
    "InvalidEventError",
    "JsonlRecorder",
    "Progress",
    "ProtocolError",
    "Reconnect",
    "ResumeError",
    "Start",
    "StoreUnavailableError",
    "StreamState",
    "Thinking",
    "Token",
    "TokenBatcher",
    "ToolResult",
    "ToolUse",
    "Turn",
    "UnknownEvent",
    "UsageError",
    "fold",
    "new_stream_id",
    "parse_event",
]


def __getattr__(name: str) -> object:
    # JsonlRecorder writes files from a thread: loaded on first use, so that
    # ``import agent_stream`` stays the sans-I/O core.
    if name == "JsonlRecorder":
        from .recording import JsonlRecorder

        return JsonlRecorder
    raise AttributeError(f"module 'agent_stream' has no attribute {name!r}")
