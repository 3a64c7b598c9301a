"""The demo agent served as AG-UI (``/api/ag-ui``) and as the AI SDK UI message stream
(``/api/ai-sdk/chat``), with the same knobs as ``/api/chat``.

AG-UI reads the knobs from ``forwardedProps`` (``HttpAgent.runAgent({forwardedProps})``), the AI
SDK from the body (``useChat``'s ``body`` option); ``message`` defaults to the last user
message's text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .._extras import install_hint
from ..bridges import ai_sdk
from ..bridges.index import MemoryStreamIndex, RedisStreamIndex, StreamIndex
from ..errors import UsageError
from ..events import AgentEvent
from ..server import RunManager
from .agent import DemoOptions, demo_agent

if TYPE_CHECKING:
    from ag_ui.core import RunAgentInput

__all__ = ["BridgeStats", "bridge_routes"]

logger = logging.getLogger("agent_stream")


@dataclass
class BridgeStats:
    """Counted for ``/healthz``: bridged runs whose agent got to its ``finally``."""

    agents_closed: int = 0


def _knobs(values: object, message: str) -> DemoOptions:
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise UsageError(
            f"the demo's knobs are a JSON object, not {type(values).__name__}",
            code="invalid-request",
        )
    knobs = dict(values)
    if message and "message" not in knobs:
        knobs["message"] = message
    return DemoOptions.from_mapping(knobs)


async def _closing(
    source: AsyncIterator[AgentEvent], stats: BridgeStats
) -> AsyncIterator[AgentEvent]:
    try:
        async for event in source:
            yield event
    finally:
        stats.agents_closed += 1


def bridge_routes(
    manager: RunManager, *, redis_url: str | None = None
) -> tuple[list[BaseRoute], BridgeStats, StreamIndex]:
    """The bridged demo routes, what they count, and their stream index (Redis with a URL)."""
    stats = BridgeStats()
    index: StreamIndex = RedisStreamIndex.from_url(redis_url) if redis_url else MemoryStreamIndex()

    def ai_sdk_agent(chat: ai_sdk.ChatRequest) -> AsyncIterator[AgentEvent]:
        knobs = {k: v for k, v in chat.body.items() if k not in ("id", "messages", "trigger")}
        options = _knobs(knobs, ai_sdk.last_user_text(chat))
        return _closing(demo_agent(options), stats)

    routes = ai_sdk.ai_sdk_routes("/api/ai-sdk/chat", ai_sdk_agent, manager=manager, index=index)
    try:
        from ..bridges import ag_ui
    except ImportError as exc:
        logger.info("demo: no /api/ag-ui (%s); %s", exc, install_hint("ag-ui"))
        # answered, not left to the page's mount (a bare 405): the caller learns the fix
        routes += [
            Route("/api/ag-ui", _ag_ui_not_installed, methods=["POST"]),
            Route("/api/ag-ui/{rest:path}", _ag_ui_not_installed, methods=["GET", "POST"]),
        ]
        return routes, stats, index

    def ag_ui_agent(run_input: RunAgentInput) -> AsyncIterator[AgentEvent]:
        options = _knobs(run_input.forwarded_props, ag_ui.last_user_text(run_input))
        return _closing(demo_agent(options), stats)

    routes += ag_ui.ag_ui_routes("/api/ag-ui", ag_ui_agent, manager=manager, index=index)
    return routes, stats, index


async def _ag_ui_not_installed(request: Request) -> Response:
    message = f"/api/ag-ui needs ag-ui-protocol; install it with: {install_hint('ag-ui')}"
    return JSONResponse({"error": {"code": "missing-extra", "message": message}}, 501)
