"""Public alias: ``agent_stream.fastapi.agent_stream_response`` (the original one-liner).

Needs the ``fastapi`` extra: ``pip install 'agent-event-stream[fastapi]'``.
"""

from __future__ import annotations

from ._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.fastapi", exc, "fastapi") from exc


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
