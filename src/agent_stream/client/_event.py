"""``StreamEvent``: one typed event as the client hands it out."""

from __future__ import annotations

from ..events import AgentEvent, JSONValue, event_to_dict

__all__ = ["StreamEvent"]


class StreamEvent:
    """A received event: ``type`` (the SSE event name), ``data`` (a dict), ``id``, ``seq``.

    ``event`` is the typed object (:class:`agent_stream.Token`, :class:`agent_stream.Done`, ...);
    ``data`` is built from it on first access. ``id`` is ``<stream_id>:<seq>`` (``""`` for a
    server that sends no ids and for a synthetic ``done``), ``seq`` is ``None`` without an id.
    """

    __slots__ = ("_data", "event", "id", "seq")

    def __init__(self, event: AgentEvent, id: str = "", seq: int | None = None) -> None:
        self.event = event
        self.id = id
        self.seq = seq
        self._data: dict[str, JSONValue] | None = None

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamEvent):
            return NotImplemented
        return self.event == other.event and self.id == other.id

    __hash__ = None  # type: ignore[assignment]
