"""The demo: a scripted agent (no API key) and the app ``agent-stream demo`` serves.

``agent_stream.demo.agent`` needs only the core and anyio; ``agent_stream.demo.app`` needs the
``server`` extra (Starlette, uvicorn).
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import anyio as _anyio  # noqa: F401
except ImportError as exc:
    raise missing_extra("agent_stream.demo", exc, "cli") from exc

from .agent import DemoFailure, DemoOptions, demo_agent

__all__ = ["DemoFailure", "DemoOptions", "demo_agent"]
