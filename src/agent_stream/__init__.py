"""agent-stream: typed, resumable Server-Sent Events for AI agents.

``import agent_stream`` loads the sans-I/O core only (events, SSE framing, the emitter, token
batching, state folding); servers, clients and integrations live in submodules with extras.
"""

from __future__ import annotations

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

__version__ = "0.2.0.dev0"

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
