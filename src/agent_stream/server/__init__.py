"""The streaming server: runs, the replay store, and the Starlette/FastAPI adapters.

Needs the ``server`` extra: ``pip install 'agent-event-stream[server]'``.
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.server", exc, "server") from exc


from .connection import Connection
from .manager import RunManager, StreamOptions, parse_cursor
from .memory import MemoryStore
from .question_board import MemoryQuestionBoard, QuestionBoard
from .questions import RunContext, approve, ask, current_run
from .run import DisconnectPolicy, Recorder, RecorderFunc, Run, Source, SourceItem
from .store import ReadResult, StoredEvent, StreamInfo, StreamStore

__all__ = [
    "Connection",
    "DisconnectPolicy",
    "MemoryQuestionBoard",
    "MemoryStore",
    "QuestionBoard",
    "ReadResult",
    "Recorder",
    "RecorderFunc",
    "Run",
    "RunContext",
    "RunManager",
    "Source",
    "SourceItem",
    "StoredEvent",
    "StreamInfo",
    "StreamOptions",
    "StreamStore",
    "approve",
    "ask",
    "current_run",
    "parse_cursor",
]
