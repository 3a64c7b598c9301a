"""Serve a run as AG-UI events (``@ag-ui/client``'s ``HttpAgent``, CopilotKit, ...).

:class:`AGUIEncoder` (sans-I/O) maps our events to AG-UI events; every frame also carries our
``id:`` line, so a client that keeps it can resume the run with ``Last-Event-ID``.
"""

from __future__ import annotations

from ._ag_ui_encoder import AGUIEncoder

__all__ = ["AGUIEncoder"]
