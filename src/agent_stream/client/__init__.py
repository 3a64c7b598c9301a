"""The Python client: typed events over httpx, resume on network failure, folded state.

Needs the ``client`` extra (``pip install 'agent-event-stream[client]'``).
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
    import h11 as _h11  # noqa: F401
    import httpcore as _httpcore  # noqa: F401
    import httpx as _httpx  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.client", exc, "client") from exc

from ..resume import RetryPolicy, StreamEvent, parse_retry_after
from ._client import AgentStreamClient
from ._sync import SyncAgentStreamClient, stream_sync
from ._transport import CoalescingTransport

ClientEvent = StreamEvent

__all__ = [
    "AgentStreamClient",
    "ClientEvent",
    "CoalescingTransport",
    "RetryPolicy",
    "StreamEvent",
    "SyncAgentStreamClient",
    "parse_retry_after",
    "stream_sync",
]
