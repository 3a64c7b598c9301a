"""The streaming server: runs, the replay store, and the Starlette/FastAPI adapters.

Needs the ``server`` extra: ``pip install 'agent-stream[server]'``.
"""

from __future__ import annotations

from .connection import Connection
from .manager import RunManager, StreamOptions, parse_cursor
from .memory import MemoryStore
from .run import DisconnectPolicy, Recorder, RecorderFunc, Run, Source, SourceItem
from .store import ReadResult, StoredEvent, StreamInfo, StreamStore

__all__ = [
    "Connection",
    "DisconnectPolicy",
    "MemoryStore",
    "ReadResult",
    "Recorder",
    "RecorderFunc",
    "Run",
    "RunManager",
    "Source",
    "SourceItem",
    "StoredEvent",
    "StreamInfo",
    "StreamOptions",
    "StreamStore",
    "parse_cursor",
]
