"""Public alias: ``agent_stream.starlette.AgentStreamResponse`` (needs the ``server`` extra)."""

from __future__ import annotations

from ._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.starlette", exc, "server") from exc


from .server.request_body import error_response, read_body, read_json
from .server.starlette import AgentStreamResponse, mount_stream_routes, stream_routes

__all__ = [
    "AgentStreamResponse",
    "error_response",
    "mount_stream_routes",
    "read_body",
    "read_json",
    "stream_routes",
]
