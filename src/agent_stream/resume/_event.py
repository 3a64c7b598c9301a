"""``StreamEvent``: one typed event as the clients hand it out."""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import AgentEvent, JSONValue, event_to_dict

__all__ = ["StreamEvent"]


class StreamEvent(msgspec.Struct, gc=False, repr_omit_defaults=True):
    """A received event: ``type`` (the SSE event name), ``data`` (a dict), ``id``, ``seq``.

    ``event`` is the typed object (:class:`agent_stream.Token`, :class:`agent_stream.Done`, ...);
    ``data`` is built from it on first access. ``id`` is ``<stream_id>:<seq>`` (``""`` for a
    server that sends no ids and for a synthetic ``done``), ``seq`` is ``None`` without an id.

    A msgspec Struct rather than a plain class: the client makes one per event, and a
    Struct's C-level ``__init__`` costs a third of a Python one (``bench/bench_client.py``).
    """

    event: AgentEvent
    id: str = ""
    seq: int | None = None
    # data built from ``event`` on first access; not an argument to pass
    _data: dict[str, JSONValue] | None = None

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def data(self) -> dict[str, JSONValue]:
        data = self._data
        if data is None:
            data = self._data = event_to_dict(self.event)
        return data

    @property
    def is_synthetic(self) -> bool:
        """True for the ``done`` the client made up because the server could not finish."""
        return self.event.type == "done" and getattr(self.event, "synthetic", False) is True

    def __repr__(self) -> str:
        return f"StreamEvent(type={self.type!r}, id={self.id!r}, data={self.data!r})"

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, StreamEvent):
            return NotImplemented
        return bool(self.event == other.event and self.id == other.id)
