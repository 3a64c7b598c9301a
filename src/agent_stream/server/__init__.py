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


from typing import TYPE_CHECKING, Any

from .manager import RunManager, StreamOptions
from .memory import MemoryStore
from .question_board import MemoryQuestionBoard, QuestionBoard
from .questions import RunContext, approve, ask, current_run
from .run import DisconnectPolicy, OversizePolicy, Recorder, RecorderFunc, Source, SourceItem
from .store import ReadResult, StoredEvent, StreamInfo, StreamStore

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = [
    "DisconnectPolicy",
    "MemoryQuestionBoard",
    "MemoryStore",
    "OversizePolicy",
    "QuestionBoard",
    "ReadResult",
    "Recorder",
    "RecorderFunc",
    "RedisStore",
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
]


def __getattr__(name: str) -> Any:
    # RedisStore's module imports only the standard library at import time (redis-py when a
    # store is made), so this costs nothing; it stays lazy so it never has to.
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
