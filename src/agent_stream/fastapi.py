"""Public alias: ``agent_stream.fastapi.agent_stream_response`` (the original one-liner).

Needs the ``fastapi`` extra: ``pip install 'agent-stream[fastapi]'``.
"""

from __future__ import annotations

from .server.fastapi import (
    AgentStreamResponse,
    RunManager,
    StreamOptions,
    agent_stream_response,
    mount_stream_routes,
    stream_routes,
)
from .server.memory import MemoryStore

__all__ = [
    "AgentStreamResponse",
    "MemoryStore",
    "RunManager",
    "StreamOptions",
    "agent_stream_response",
    "mount_stream_routes",
    "stream_routes",
]
