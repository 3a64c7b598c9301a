"""Public alias: ``agent_stream.fastapi.agent_stream_response`` (the original one-liner).

The response class itself (also FastAPI's ``response_class=``) is
``agent_stream.starlette.AgentStreamResponse``; the manager and stores are in
``agent_stream.server``.

Needs the ``fastapi`` extra: ``pip install 'agent-event-stream[fastapi]'``.
"""

from __future__ import annotations

from ._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.fastapi", exc, "fastapi") from exc


from .server.fastapi import agent_stream_response

__all__ = ["agent_stream_response"]
