"""Serve a run as the Vercel AI SDK UI message stream (``useChat`` from ``@ai-sdk/react``).

:class:`AISDKEncoder` (sans-I/O) maps our events to UI message stream chunks; every frame also
carries our ``id:`` line.
"""

from __future__ import annotations

from ._ai_sdk_encoder import UI_MESSAGE_STREAM_HEADERS, AISDKEncoder

__all__ = ["UI_MESSAGE_STREAM_HEADERS", "AISDKEncoder"]
