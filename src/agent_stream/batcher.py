"""The module name agent-stream 0.1 used for :class:`TokenBatcher`; kept so 0.1 code imports."""

from __future__ import annotations

from .batching import TokenBatcher

__all__ = ["TokenBatcher"]
