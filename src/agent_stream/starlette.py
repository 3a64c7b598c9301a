"""Public alias: ``agent_stream.starlette.AgentStreamResponse`` (needs the ``server`` extra)."""

from __future__ import annotations

from .server.manager import RunManager, StreamOptions
from .server.memory import MemoryStore
from .server.starlette import AgentStreamResponse, mount_stream_routes, stream_routes

__all__ = [
    "AgentStreamResponse",
    "MemoryStore",
    "RunManager",
    "StreamOptions",
    "mount_stream_routes",
    "stream_routes",
]
